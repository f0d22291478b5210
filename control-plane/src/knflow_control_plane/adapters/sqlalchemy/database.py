"""One way to run a transaction, whatever the database.

Transactions are plain functions over a synchronous SQLAlchemy ``Connection``:

- on SQLite (``sqlite:///...``, the embedded default) they run in one dedicated thread with one
  connection: SQLite has one writer anyway, and a whole transaction costs one thread hop instead of
  one per statement (aiosqlite's model); hot transitions queued together share one commit
  (:mod:`.sqlite_thread`). ``sqlite+aiosqlite://`` is accepted too.
- on Postgres (``postgresql://`` is read as ``postgresql+asyncpg://``) they run through
  ``AsyncConnection.run_sync`` on a pooled asyncpg connection, admitted in order by
  :mod:`.admission` (a burst waits there, not in the pool, whose checkouts time out).

So the SQL is written once, and the two stores cannot drift apart. The hot transitions go through
:meth:`Database.run_raw`: the same functions, with the driver running the compiled statements
(:mod:`.sqlalchemy_raw`).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.util import await_only

from ...errors import StoreUnavailable
from . import errors as store_errors
from . import json_columns
from .admission import Admission
from .raw import Plans, RawConnection, SqliteDriver
from .raw_asyncpg import AsyncpgDriver
from .sqlite_thread import Merge, SqliteThread
from .state_cache import RunStateCache

T = TypeVar("T")

#: The setting by which a session says it bumps run versions itself (migration 0018).
VERSIONED = "knflow.versioned"

# The hot transactions (raw path) find every row by its key. Their batched statements join tables with
# JSON recordset parameters, which the planner estimates at 100 rows whatever their size: on tables of
# a few thousand rows it then prefers a hash join over a scan of the whole table (milliseconds a
# statement, growing with the table) to a few index lookups. Within these transactions, joins are nested loops
# over indexes; a scan remains where no index applies. Sent with BEGIN: no round trip of its own.
_BEGIN_KEYED = (
    "BEGIN; SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"
)


def normalise_url(url: str) -> str:
    """The driver-qualified URL knflow uses for ``url``."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    return url


class Database:
    """Runs transaction functions on SQLite or Postgres.

    Args:
        url: ``sqlite:///path``, ``sqlite+aiosqlite:///path``, ``sqlite://`` (memory) or a Postgres URL.
        pool_size: connections to Postgres kept open, as many as transactions admitted at once (as many
            again may open briefly for anything that bypasses admission).
        pool_timeout: seconds a transaction admitted by :mod:`.admission` may wait for a connection (one
            is free when it is admitted, unless a connection is being re-opened).
    """

    def __init__(self, url: str, *, pool_size: int = 10, pool_timeout: float = 30.0):
        self.url = normalise_url(url)
        self.dialect = sa.engine.make_url(self.url).get_backend_name()
        self._sync: Engine | None = None
        self._async: AsyncEngine | None = None
        self._thread: SqliteThread | None = None
        #: The run states the inline transitions keep between them (SQLite on a file; else None).
        self.state_cache: RunStateCache | None = None
        # Admitted transactions fit the pool's own connections, which stay open. Admitting its overflow
        # too (as before) made a transaction beyond the tenth open a connection, and close it on return
        # (SQLAlchemy keeps ``pool_size``): a connect (TCP, startup, auth) and every statement prepared
        # again on the new connection (asyncpg's statement cache is per connection): steady throughput
        # opened hundreds of connections (docs/performance.md). The overflow is left
        # for whatever bypasses admission.
        self._admission = Admission(pool_size)
        self.pool_size = pool_size
        if self.url.startswith("sqlite://") or self.url.startswith("sqlite+pysqlite://"):
            _ensure_parent(self.url)
            self._sync = sa.create_engine(
                self.url, poolclass=StaticPool, connect_args={"check_same_thread": False}, **_JSON_CODEC
            )
            _tune_sqlite(self._sync)
            engine = self._sync
            inline = not _in_memory(self.url)
            # what the inline transitions leave, for the runs' next ones
            self.state_cache = states = RunStateCache() if inline else None
            self._thread = SqliteThread(
                self._run_sync,
                # StaticPool: the one connection SQLAlchemy uses too (from the database thread only).
                lambda: engine.raw_connection().dbapi_connection,
                lambda raw: RawConnection(self._plans, SqliteDriver(raw)),
                connect_inline=(lambda: _inline_connection(self.url)) if inline else None,
                wrap_inline=lambda raw: RawConnection(self._plans, SqliteDriver(raw), states),
                inline_watcher=states,
            )
        else:
            if self.dialect == "sqlite":
                _ensure_parent(self.url)
            kwargs: dict[str, Any] = (
                {"pool_size": pool_size, "max_overflow": pool_size, "pool_timeout": pool_timeout}
                if self.dialect != "sqlite"
                else {}
            )
            self._async = create_async_engine(self.url, **kwargs, **_JSON_CODEC)
            if self.dialect == "sqlite":
                _tune_sqlite(self._async.sync_engine)
            else:
                _say_versioned(self._async.sync_engine)
        self._plans = Plans(self.sync_engine.dialect)
        # The statements prepared on each asyncpg connection by name (``sqlalchemy_raw_asyncpg``).
        self._prepared: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()

    def merge_queued(self, fn: Callable[..., Any], how: Merge) -> None:
        """Run raw calls of ``fn`` queued together as one (SQLite: see ``sqlite_thread``; Postgres: nothing)."""
        if self._thread is not None:
            self._thread.merge(fn, how)

    def run_inline_when(self, when: Callable[[], bool]) -> None:
        """Let hot transitions run in the event loop while ``when()`` (SQLite: see ``sqlite_thread``)."""
        if self._thread is not None:
            self._thread.inline_when = when

    @property
    def sync_engine(self) -> Engine:
        """The synchronous engine (for migrations)."""
        return self._sync if self._sync is not None else self._async.sync_engine  # type: ignore[union-attr]

    async def run(self, fn: Callable[..., T], *args: Any, new_run: bool = False) -> T:
        """Run ``fn(connection, *args)`` in one transaction; commit if it returns, roll back if it raises.

        ``new_run``: the transaction starts a run, so on Postgres it waits behind those of runs already
        going (:mod:`.admission`).

        Raises:
            StoreUnavailable: when the database cannot be reached.
        """
        try:
            if self._thread is not None:
                # The caller's context (current span, log ids) goes along to the database thread.
                result: T = await self._thread.submit(fn, args, raw=False)
                return result
            assert self._async is not None
            async with self._admission.slot(urgent=not new_run), self._async.begin() as conn:
                return await conn.run_sync(fn, *args)
        except (DBAPIError, OSError, ConnectionError) as exc:
            if isinstance(exc, OperationalError) or store_errors.unavailable(exc):
                raise StoreUnavailable(f"the run store is unavailable: {store_errors.reason(exc)}") from exc
            raise

    async def run_raw(
        self,
        fn: Callable[..., T],
        *args: Any,
        new_run: bool = False,
        transaction: bool = True,
        reads_first: bool = False,
    ) -> T:
        """Like :meth:`run`, with ``fn`` given a :class:`RawConnection` on the driver: for transactions
        whose every statement is prebuilt (the hot path), at the driver's cost instead of SQLAlchemy's.
        ``transaction=False``: see :meth:`read_raw`. ``reads_first`` (Postgres): the reads before the
        first write run outside the transaction (``raw_asyncpg.AsyncpgDriver.begin``).

        Raises:
            StoreUnavailable: when the database cannot be reached.
        """
        if self._sync is None and self.dialect == "sqlite":  # sqlite+aiosqlite: no raw path
            return await self.run(fn, *args, new_run=new_run)
        try:
            if self._thread is not None:
                result: T = await self._thread.submit(fn, args, raw=True)
                return result
            async with self._admission.slot(urgent=not new_run):
                return await self._run_raw_asyncpg(fn, args, transaction=transaction, reads_first=reads_first)
        except StoreUnavailable:
            raise
        except Exception as exc:
            if isinstance(exc, OperationalError) or store_errors.unavailable(exc):
                raise StoreUnavailable(f"the run store is unavailable: {store_errors.reason(exc)}") from exc
            raise

    async def read_raw(self, fn: Callable[..., T], *args: Any) -> T:
        """Like :meth:`run_raw`, for reads whose statements need no snapshot in common (each one is
        consistent alone): on Postgres without ``BEGIN`` and ``COMMIT``, one round trip a statement
        instead of three for a lone one (waiters and the poll read often). SQLite: as :meth:`run_raw`.

        Raises:
            StoreUnavailable: when the database cannot be reached.
        """
        return await self.run_raw(fn, *args, transaction=False)

    async def _run_raw_asyncpg(
        self, fn: Callable[..., T], args: tuple[Any, ...], *, transaction: bool = True, reads_first: bool = False
    ) -> T:
        from sqlalchemy.util import greenlet_spawn

        return await greenlet_spawn(self._on_pooled_connection, fn, args, transaction, reads_first)

    def _on_pooled_connection(
        self, fn: Callable[..., T], args: tuple[Any, ...], transaction: bool, reads_first: bool = False
    ) -> T:
        """``fn`` on a connection of the pool, in the greenlet :meth:`_run_raw_asyncpg` spawned.

        The checkout happens in the same greenlet as the transaction: an ``AsyncConnection`` costs a
        greenlet of its own to check out and to return (five times the CPU, docs/performance.md).
        A connection found closed (Postgres restarted, a proxy cut it) is discarded, and so is one that
        failed as unreachable: the raw path bypasses SQLAlchemy's error handling, which would do the same.
        ``BEGIN`` goes out with the transaction's first statement, ``COMMIT`` with its last held one
        (``sqlalchemy_raw_asyncpg``).
        """
        pooled, connection = self._open_connection()
        try:
            driver = AsyncpgDriver(connection, self._prepared.setdefault(connection, set()))
            raw = RawConnection(self._plans, driver)
            if not transaction:
                return fn(raw, *args)
            driver.begin(_BEGIN_KEYED, reads_first=reads_first)
            try:
                result = fn(raw, *args)
                driver.commit()
            except BaseException:
                with contextlib.suppress(Exception):  # a connection that cannot roll back is closed
                    driver.rollback()
                raise
            return result
        except Exception as exc:
            if store_errors.unavailable(exc):
                pooled.invalidate(exc)
            raise
        finally:
            pooled.close()

    def _open_connection(self) -> tuple[Any, Any]:
        """A pooled connection and its asyncpg connection, not closed (in a greenlet: it may connect)."""
        assert self._async is not None
        for _ in range(self.pool_size + 1):  # every kept connection closed at once: then a new one
            pooled = self._async.sync_engine.raw_connection()
            driver = pooled.driver_connection
            if driver is not None and not driver.is_closed():
                return pooled, driver
            pooled.invalidate()
            pooled.close()
        raise StoreUnavailable("the run store is unavailable: every connection to it closes at once")

    def _run_sync(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        assert self._sync is not None
        with self._sync.begin() as conn:
            return fn(conn, *args)

    async def dispose(self) -> None:
        """Close every connection."""
        if self._async is not None:
            await self._async.dispose()
        if self._sync is not None:
            assert self._thread is not None
            await asyncio.to_thread(self._thread.close)
            self._sync.dispose()


#: JSON columns: ``json.dumps``/``json.loads``'s text and values, in fewer steps (``json_columns``). On
#: Postgres the deserializer is asyncpg's ``jsonb`` codec, set up by SQLAlchemy on each connection.
_JSON_CODEC: dict[str, Any] = {"json_serializer": json_columns.dumps, "json_deserializer": json_columns.loads}


def _in_memory(url: str) -> bool:
    return sa.engine.make_url(url).database in (None, "", ":memory:")


def _inline_connection(url: str) -> Any:
    """A second connection to the SQLite file, for transitions run in the event loop: same settings as
    ``_tune_sqlite`` gives the others, except that it never waits for a lock (the loop must not block)."""
    import sqlite3

    conn = sqlite3.connect(sa.engine.make_url(url).database or "", isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=0")
    return conn


def _ensure_parent(url: str) -> None:
    database = sa.engine.make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _say_versioned(engine: Engine) -> None:
    """Tell Postgres, once per connection, that this replica bumps its runs' versions itself: migration
    0018's triggers, which bump them for replicas from before 0017 during a rolling upgrade, then skip
    its writes. Sent outside any transaction (on asyncpg itself), so that it lasts the connection's life."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        await_only(dbapi_connection.driver_connection.execute(f"SET {VERSIONED} = 'on'"))


def _tune_sqlite(engine: Engine) -> None:
    memory = _in_memory(str(engine.url))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event open the transaction, as BEGIN IMMEDIATE (below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a commit survives a process crash; only an OS crash may lose the last ones.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Take the write lock at the start: two processes on one file never deadlock on upgrade.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
