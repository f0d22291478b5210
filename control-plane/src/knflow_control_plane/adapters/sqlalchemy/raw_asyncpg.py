"""The raw path's driver on Postgres (asyncpg): what needs no answer travels with the next message.

Every message to Postgres is a round trip: a socket write and a wake-up on each side, in wall time and
in this process's CPU (``docs/performance.md`` has what one costs).
A statement whose rows nobody reads (the lock a transition takes first, the writes it ends with) need
not wait for its own answer: :meth:`AsyncpgDriver.run_later` holds it, and it goes out in the same
simple-query message as the next one. ``BEGIN`` waits the same way, and ``COMMIT`` takes whatever is
still held: a lone completion is three round trips instead of five.

A simple query carries no parameters, so a held statement is sent as ``EXECUTE name(literal, ...)`` of a
statement prepared on the connection once (``PREPARE``, its own round trips, the first time only), run
with a generic plan made once: the same statement written out with literals would be planned again each
time (for ``PERSIST_PG``, more than the round trip saved). Strings are quoted by doubling ``'``, which is exact
only with ``standard_conforming_strings`` on (the default; Postgres reports the setting to the driver);
otherwise, or for a value with no literal here, the statement runs at once, as any other.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

_COUNT = re.compile(r"(\d+)$")
_GENERIC = "SET LOCAL plan_cache_mode = force_generic_plan"
_AS_BEFORE = "SET LOCAL plan_cache_mode = DEFAULT"
#: How the reads ``begin(reads_first=True)`` runs outside the transaction start (the caller's loads: a
#: ``WITH`` of theirs modifies nothing; an INSERT or UPDATE ... RETURNING waits for the transaction).
_READS = ("SELECT", "WITH")


class NoLiteral(ValueError):
    """A value this module does not write as a SQL literal (its statement then runs at once)."""


def literal(value: Any) -> str:
    """``value`` as a Postgres literal, for a simple query with ``standard_conforming_strings`` on.

    Raises:
        NoLiteral: for a type not written here, or a string Postgres could not hold (a NUL).
    """
    write = _WRITERS.get(type(value))  # by exact type: a str or int subclass may print otherwise
    if write is None:
        raise NoLiteral(f"a {type(value).__name__}")
    return write(value)


def _string(value: str) -> str:
    if "\x00" in value:
        raise NoLiteral("a string with a NUL character")
    return "'" + value.replace("'", "''") + "'"


def _float(value: float) -> str:
    if math.isfinite(value):
        return repr(value)  # the shortest decimal that reads back as the same double
    return "'NaN'" if math.isnan(value) else "'Infinity'" if value > 0 else "'-Infinity'"


def _array(value: list[Any] | tuple[Any, ...]) -> str:
    if not value:
        return "'{}'"
    if any(type(item) in (list, tuple) for item in value):
        raise NoLiteral("a nested array")
    return "ARRAY[" + ", ".join(map(literal, value)) + "]"


_WRITERS: dict[type, Callable[[Any], str]] = {
    str: _string,
    float: _float,
    int: str,
    bool: lambda value: "true" if value else "false",
    type(None): lambda _: "NULL",
    list: _array,
    tuple: _array,
}


@functools.lru_cache(maxsize=256)  # a few statement texts, each held on every transition
def prepared_name(sql: str) -> str:
    """The name a statement is prepared under: the same on every connection, distinct per text."""
    return "knflow_" + hashlib.blake2b(sql.encode(), digest_size=12).hexdigest()


class AsyncpgDriver:
    """``asyncpg``, awaited from inside ``greenlet_spawn`` (the transition functions are synchronous).

    ``prepared`` is the set of statement names already prepared on ``connection``, kept by the caller
    for as long as the connection lives (a prepared statement outlives a rollback; Postgres drops it
    only with the session).
    """

    def __init__(self, connection: Any, prepared: set[str]):
        from sqlalchemy.util import await_only

        self.connection = connection
        self._await = await_only
        self._prepared = prepared
        self._begin: str | None = None  # the BEGIN not sent yet
        self._held: list[str] = []  # EXECUTEs not sent yet
        self._in_transaction = False
        self._sent = False
        self._generic = False  # the transaction's plan_cache_mode is force_generic_plan now
        self._generic_next = False  # the next statement is to run with a generic plan
        self._reads_first = False  # reads before the first write run outside the transaction

    def begin(self, sql: str, *, reads_first: bool = False) -> None:
        """Open a transaction with ``sql`` (``BEGIN`` and its settings), sent with the first statement;
        with ``reads_first``, with the first statement that writes or is held: the reads before it run
        outside the transaction, each in a snapshot of its own (the caller checks, within the
        transaction, that what it read has not changed: ``transitions.SqlRunStates``), and promises that
        none of them writes."""
        self._begin, self._held = sql, []
        self._in_transaction, self._sent = True, False
        self._generic = self._generic_next = False
        self._reads_first = reads_first

    def commit(self) -> None:
        """Send what is held, and ``COMMIT``, in one message (nothing at all if nothing ran)."""
        self._in_transaction = False
        if self._sent or self._held:
            self._send_held(ending="COMMIT")
        self._begin = None

    def rollback(self) -> None:
        """Drop what is held; ``ROLLBACK`` if anything was sent (also after a failed ``commit``)."""
        self._begin, self._held = None, []
        self._in_transaction = False
        if self._sent:
            self._await(self.connection.execute("ROLLBACK"))

    def plan_generically(self) -> None:
        """Run the next statement with a generic plan (made once per connection), when that needs no
        round trip of its own: a ``BEGIN`` or statements are held to go before it, or the mode is on.

        Postgres plans a prepared statement afresh on each execution when its generic plan's estimated
        cost is the higher, as for the transition's load (``dialects.LOAD_PG_NAMED``): ~450 us of its CPU
        to plan a statement that runs in ~100 (``docs/performance.md``). The statements after it get the
        session's mode back with the next message (a generic plan cannot use a partial index whose
        predicate is one of its parameters).
        """
        if self._in_transaction and (self._generic or self._begin or self._held):
            self._generic_next = True

    def run(self, sql: str, args: list[Any], returns_rows: bool) -> tuple[Sequence[Sequence[Any]], int]:
        if self._reads_first and returns_rows and not (self._sent or self._held) and sql.startswith(_READS):
            self._generic_next = False  # no SET LOCAL outside a transaction: a statement read so plans itself
            rows = self._await(self.connection.fetch(sql, *args))
            return rows, len(rows)
        self._send_held()
        if returns_rows:
            rows = self._await(self.connection.fetch(sql, *args))
            return rows, len(rows)
        status = self._await(self.connection.execute(sql, *args))
        match = _COUNT.search(status or "")
        return [], int(match.group(1)) if match else -1

    def run_many(self, sql: str, args: list[list[Any]]) -> int:
        self._send_held()
        self._await(self.connection.executemany(sql, args))
        return len(args)  # asyncpg reports no count for executemany: callers here use none

    def run_later(self, sql: str, args: list[Any]) -> None:
        """Run a statement whose rows nobody reads, in the next message (at once outside a transaction)."""
        try:
            if not self._in_transaction or self.connection.get_settings().standard_conforming_strings != "on":
                raise NoLiteral("no message to share")
            arguments = ", ".join(literal(a) for a in args)
        except NoLiteral:
            self.run(sql, args, False)
            return
        name = self._prepare(sql)
        self._held.append(f"EXECUTE {name}({arguments})" if args else f"EXECUTE {name}")

    def _prepare(self, sql: str) -> str:
        name = prepared_name(sql)
        if name not in self._prepared:
            # Asked first rather than caught: a failed PREPARE would abort an open transaction. (It can
            # exist unrecorded when a cancellation came between the PREPARE and its answer.)
            known = "SELECT true FROM pg_prepared_statements WHERE name = $1"
            if not self._await(self.connection.fetchval(known, name)):
                self._await(self.connection.execute(f"PREPARE {name} AS {sql}"))
            self._prepared.add(name)
        return name

    def _send_held(self, ending: str | None = None) -> None:
        """Send the held ``BEGIN`` and statements, then ``ending`` if any, as one message.

        The held statements run with generic plans. Postgres otherwise plans ``PERSIST_PG`` afresh on
        each execution (its cost estimate for a generic plan is higher), which costs it more CPU than the
        write itself. ``SET LOCAL`` lasts until the transaction ends, so it is put
        back (to the session's value) unless the message ends the transaction; a statement
        :meth:`plan_generically` asked for keeps the mode on until the next message.
        """
        message = [self._begin] if self._begin else []
        generic = self._generic

        def mode(wanted: bool) -> None:
            nonlocal generic
            if wanted != generic:
                message.append(_GENERIC if wanted else _AS_BEFORE)
                generic = wanted

        if self._held:
            mode(True)
            message += self._held
        if ending != "COMMIT":  # the mode of the statement that follows this message
            mode(self._generic_next)
        if ending:
            message.append(ending)
        self._begin, self._held = None, []
        self._generic, self._generic_next = generic, False
        if message:
            self._sent = True
            self._await(self.connection.execute("; ".join(message)))
