"""Round trips to Postgres of the raw path: statements nobody reads travel with the next message
(``sqlalchemy.raw_asyncpg``), written there as literals, which must read back exactly."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from knflow_control_plane.adapters.sqlalchemy import dialects
from knflow_control_plane.adapters.sqlalchemy.batches import Completion
from knflow_control_plane.adapters.sqlalchemy.database import Database
from knflow_control_plane.adapters.sqlalchemy.raw import RawConnection
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.domain.model import Outcome
from knflow_control_plane.domain.records import Claim
from tests.integration.conftest import _postgres_database
from tests.integration.test_store_concurrency import WIDTH, W, new_run

#: Quotes, backslashes (literal with standard_conforming_strings on), placeholders, comments, non-ASCII.
AWKWARD = "O'Brien's \\'; DROP TABLE runs; -- $1 \\x00 \"q\" \u00e9\u4e2d \U0001f600 '' \\\\"


@contextlib.contextmanager
def round_trips() -> Iterator[list[str]]:
    """The messages sent to Postgres meanwhile, each one a round trip (each one's text)."""
    sent: list[str] = []
    originals = {name: getattr(asyncpg.Connection, name) for name in ("execute", "fetch", "fetchval", "executemany")}

    def counting(name: str) -> Any:
        async def send(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            sent.append(query)
            return await originals[name](self, query, *args, **kwargs)

        return send

    for name in originals:
        setattr(asyncpg.Connection, name, counting(name))
    try:
        yield sent
    finally:
        for name, original in originals.items():
            setattr(asyncpg.Connection, name, original)


def _once_per_connection(message: str) -> bool:
    """The statement prepared the first time a connection holds it (not a round trip per transaction)."""
    return message.startswith("PREPARE ") or "pg_prepared_statements" in message


async def _store(url: str) -> SqlAlchemyStore:
    store = SqlAlchemyStore(Database(url, pool_size=1), outbox=True)
    await store.ensure_project("default", 0.0)
    return store


@pytest.fixture
async def pg_store() -> AsyncIterator[SqlAlchemyStore]:
    store = await _store(await _postgres_database())
    yield store
    await store.close()


@pytest.fixture
async def pg_store_without_standard_strings() -> AsyncIterator[SqlAlchemyStore]:
    """A store whose sessions treat backslashes in string literals as escapes (the pre-9.1 default)."""
    url = await _postgres_database()
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f"ALTER DATABASE {url.rsplit('/', 1)[1]} SET standard_conforming_strings = off")
    finally:
        await admin.close()
    store = await _store(url)
    yield store
    await store.close()


async def _seeded(store: SqlAlchemyStore, output: Any) -> tuple[Claim, list[Claim]]:
    """A run's seed, completed alone with ``output``: the seed's claim and the claims it released."""
    seed = (await store.create_run(new_run({"x": 1}), time.time(), W)).claims[0]
    done = await store._complete_batch("lane", [_completion(seed, output)])
    return seed, list(done[0].claims)


def _completion(claim: Claim, output: Any) -> Completion:
    return Completion(claim.run_id, claim.step, claim.attempt_id, Outcome.succeeded({"result": output}), time.time(), W)


async def _stored_inputs(store: SqlAlchemyStore, run_id: str) -> dict[str, Any]:
    run = await store.get_run(run_id)
    assert run is not None
    return {s.name: s.attempts[0].inputs for s in run.steps if s.attempts}


async def test_a_lone_success_is_two_round_trips(pg_store: SqlAlchemyStore) -> None:
    await _seeded(pg_store, 0)  # the held statements are prepared on the (one) connection
    seed = (await pg_store.create_run(new_run({"x": 1}), time.time(), W)).claims[0]
    with round_trips() as sent:
        done = await pg_store._complete_batch("lane", [_completion(seed, 7)])
    assert [c.inputs for c in done[0].claims] == [{"x": 7}] * WIDTH
    # the run read (outside the transaction); BEGIN, the run's lock, the writes (the success, the claims
    # and events, checked against the version read) and COMMIT, in one message
    assert len(sent) == 2, sent
    assert sent[0].startswith("WITH keys AS") and "BEGIN" not in sent[0]
    assert sent[1].startswith("BEGIN;") and sent[1].count("EXECUTE knflow_") == 2 and sent[1].endswith("; COMMIT")
    assert {s: i["x"] for s, i in (await _stored_inputs(pg_store, seed.run_id)).items() if s != "seed"} == {
        f"f{i}": 7 for i in range(WIDTH)
    }


async def test_held_statements_are_prepared_once_per_connection(pg_store: SqlAlchemyStore) -> None:
    with round_trips() as first:
        await _seeded(pg_store, 1)
    with round_trips() as second:
        await _seeded(pg_store, 2)
    assert sum(map(_once_per_connection, first)) > 0
    assert sum(map(_once_per_connection, second)) == 0


async def test_awkward_strings_read_back_exactly_from_held_statements(pg_store: SqlAlchemyStore) -> None:
    seed, released = await _seeded(pg_store, {"text": AWKWARD, "list": [AWKWARD, None, 1.5e-300, -0.0]})
    stored = await _stored_inputs(pg_store, seed.run_id)
    assert len(released) == WIDTH
    assert stored["f0"] == {"x": {"text": AWKWARD, "list": [AWKWARD, None, 1.5e-300, -0.0]}}
    run = await pg_store.get_run(seed.run_id)
    assert run is not None and {s.status for s in run.steps if s.name.startswith("f")} == {"running"}


async def test_without_standard_strings_nothing_is_held_and_strings_still_read_back(
    pg_store_without_standard_strings: SqlAlchemyStore,
) -> None:
    store = pg_store_without_standard_strings
    await _seeded(store, 0)
    seed = (await store.create_run(new_run({"x": 1}), time.time(), W)).claims[0]
    with round_trips() as sent:
        await store._complete_batch("lane", [_completion(seed, AWKWARD)])
    assert not any("EXECUTE knflow_" in s for s in sent), sent
    assert len(sent) == 5, sent  # BEGIN, the lock (held statements need standard strings), record, write, COMMIT
    assert (await _stored_inputs(store, seed.run_id))["f1"] == {"x": AWKWARD}


async def test_a_held_write_that_fails_rolls_back_and_leaves_the_connection_usable(pg_store: SqlAlchemyStore) -> None:
    second = (await pg_store.create_run(new_run({"x": 2}), time.time(), None)).run_id
    admin = await asyncpg.connect(pg_store.db.url.replace("postgresql+asyncpg://", "postgresql://"))
    try:  # the held write of the claim (PERSIST_PG, sent with COMMIT) now fails
        await admin.execute("ALTER TABLE attempts ADD CONSTRAINT no_more CHECK (number < 0) NOT VALID")
        with round_trips() as sent, pytest.raises(asyncpg.CheckViolationError, match="no_more"):
            await pg_store.claim_ready(time.time(), W)
        assert "EXECUTE knflow_" in sent[-2] and sent[-2].endswith("; COMMIT"), sent
        assert sent[-1] == "ROLLBACK"
    finally:
        await admin.execute("ALTER TABLE attempts DROP CONSTRAINT no_more")
        await admin.close()
    run = await pg_store.get_run(second)
    assert run is not None and {s.status for s in run.steps} == {"ready", "pending"}  # nothing half-written
    again = await pg_store.claim_ready(time.time(), W)  # the one connection is clean again
    assert [t.run_id for t in again] == [second]


async def test_statements_after_held_ones_plan_as_the_session_does(pg_store: SqlAlchemyStore) -> None:
    def held_then_shown(conn: RawConnection) -> tuple[str, str]:
        conn.execute_later(dialects.LOCK_MANY_PG, {"b_runs": ["no-such-run"]})
        during = conn._driver.run("SHOW plan_cache_mode", [], True)[0][0][0]
        conn.execute_later(dialects.LOCK_MANY_PG, {"b_runs": ["no-such-run"]})
        return during, conn._driver.run("SHOW plan_cache_mode", [], True)[0][0][0]

    with round_trips() as sent:
        assert await pg_store.db.run_raw(held_then_shown) == ("auto", "auto")
    sent = [m for m in sent if not _once_per_connection(m)]
    assert len(sent) == 5 and "force_generic_plan" in sent[0] and "force_generic_plan" in sent[2], sent
    assert sent[-1] == "COMMIT"


async def test_a_success_reads_the_run_once_however_many_steps_it_releases(pg_store: SqlAlchemyStore) -> None:
    seed = (await pg_store.create_run(new_run({"x": 1}), time.time(), W)).claims[0]

    def load(conn: RawConnection) -> list[Any]:
        conn.execute_later(dialects.LOCK_MANY_PG, {"b_runs": [seed.run_id]})
        params = {"b_runs": [seed.run_id], "keys": [(seed.run_id, seed.step)], "bind": []}
        params |= {"bound": 1, "due": False}
        return conn.execute(dialects.LOAD_PG, {**params, "every": False, "now": time.time()}).all()

    rows = await pg_store.db.run_raw(load)
    assert [r.name for r in rows] == sorted([seed.step, *(f"f{i}" for i in range(WIDTH))])
    assert (rows[0].run_status, rows[0].run_inputs) == ("running", {"x": 1})
    assert all(r.run_inputs is None for r in rows[1:])  # decoded once, not 60 times
    assert {r.run_remaining for r in rows} == {WIDTH + 2}


async def test_the_transitions_load_is_planned_once_per_connection(pg_store: SqlAlchemyStore) -> None:
    """Postgres would plan the load afresh on every execution (its generic plan looks dearer): ~450 us of
    its CPU a step. Read outside the transaction (no ``SET LOCAL`` there), its parameters read through
    one-row subqueries, it is planned generically after Postgres's five custom trials, with no round trip more."""
    for value in range(8):
        await _seeded(pg_store, value)  # eight lone successes on the store's one connection

    def counts(conn: RawConnection) -> list[Any]:
        query = "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE 'WITH keys AS%'"
        return list(conn._driver.run(query, [], True)[0])

    [(generic, custom)] = await pg_store.db.run_raw(counts)
    assert (generic, custom) == (3, 5)
    seed = (await pg_store.create_run(new_run({"x": 1}), time.time(), W)).claims[0]
    with round_trips() as sent:
        await pg_store._complete_batch("lane", [_completion(seed, 7)])
    assert len(sent) == 2 and "plan_cache_mode" not in sent[0], sent
    [(generic, custom)] = await pg_store.db.run_raw(counts)
    assert (generic, custom) == (4, 5)


async def test_statements_after_the_load_plan_as_the_session_does(pg_store: SqlAlchemyStore) -> None:
    seed = (await pg_store.create_run(new_run({"x": 1}), time.time(), W)).claims[0]

    def load_then_shown(conn: RawConnection) -> tuple[int, str]:
        conn.execute_later(dialects.LOCK_MANY_PG, {"b_runs": [seed.run_id]})
        state = dialects.POSTGRES.load(
            conn,
            {"b_runs": [seed.run_id], "keys": [(seed.run_id, seed.step)], "bind": []}
            | {"names": [seed.step], "bound": 1, "due": False, "every": False, "now": time.time()},
        )
        return len(state[1]), conn._driver.run("SHOW plan_cache_mode", [], True)[0][0][0]

    with round_trips() as sent:
        assert await pg_store.db.run_raw(load_then_shown) == (WIDTH + 1, "auto")
    sent = [m for m in sent if not _once_per_connection(m)]
    # BEGIN with the lock and the mode; the load; the mode back and SHOW (no statement held to carry it)
    assert "force_generic_plan" in sent[0] and "plan_cache_mode = DEFAULT" in sent[2], sent
