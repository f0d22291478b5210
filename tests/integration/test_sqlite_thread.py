"""Group commit on the SQLite thread: transitions queued together share a commit, never an error."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from knflow_control_plane.adapters.sqlalchemy.sqlite_thread import SqliteThread


def _thread(path: Path, inline: Any = None) -> SqliteThread:
    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)")
        return conn

    def not_raw(fn: Any, args: tuple[Any, ...]) -> Any:
        return fn(None, *args)

    return SqliteThread(not_raw, connect, lambda raw: raw, connect_inline=inline)


def _insert(conn: sqlite3.Connection, key: str, fail: bool) -> str:
    conn.execute("INSERT INTO t (k) VALUES (?)", (key,))
    if fail:
        raise ValueError(key)
    return key


def _keys(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[0] for row in conn.execute("SELECT k FROM t")}


async def test_a_failing_transition_rolls_back_alone(tmp_path: Path) -> None:
    thread = _thread(tmp_path / "db")
    try:
        jobs = [thread.submit(_insert, (f"k{i}", i % 7 == 3), raw=True) for i in range(200)]
        results = await asyncio.gather(*jobs, return_exceptions=True)
    finally:
        thread.close()
    failed = {f"k{i}" for i in range(200) if i % 7 == 3}
    assert {str(e) for e in results if isinstance(e, ValueError)} == failed
    assert _keys(tmp_path / "db") == {f"k{i}" for i in range(200)} - failed


async def test_jobs_run_in_order_across_kinds(tmp_path: Path) -> None:
    thread = _thread(tmp_path / "db")
    seen: list[int] = []

    def note(_conn: object, n: int) -> None:
        seen.append(n)

    try:
        await asyncio.gather(*[thread.submit(note, (n,), raw=n % 3 == 0) for n in range(30)])
    finally:
        thread.close()
    assert seen == list(range(30))


async def test_a_failed_commit_fails_the_whole_group(tmp_path: Path) -> None:
    thread = _thread(tmp_path / "db")
    try:
        await thread.submit(_insert, ("taken", False), raw=True)
        with pytest.raises(sqlite3.IntegrityError):
            await thread.submit(_insert, ("taken", False), raw=True)
    finally:
        thread.close()
    assert _keys(tmp_path / "db") == {"taken"}


def _inline_thread(path: Path) -> SqliteThread:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (k TEXT PRIMARY KEY)")
    # What the database gives it: a second connection that never waits for the write lock.
    thread = _thread(path, lambda: sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0))
    thread.inline_when = lambda: True
    return thread


async def test_a_lone_transition_runs_inline_and_commits(tmp_path: Path) -> None:
    thread = _inline_thread(tmp_path / "db")
    try:
        await thread.submit(_insert, ("warm", False), raw=True)
        thread.inline_runs = 0
        assert await thread.submit(_insert, ("a", False), raw=True) == "a"
        with pytest.raises(ValueError, match="b"):
            await thread.submit(_insert, ("b", True), raw=True)
        assert thread.inline_runs == 1  # the failed one rolled back, inline too
        assert _keys(tmp_path / "db") == {"warm", "a"}  # committed: another connection sees it
    finally:
        thread.close()


async def test_an_inline_transition_queues_behind_another_writer_instead_of_blocking_the_loop(
    tmp_path: Path,
) -> None:
    thread = _inline_thread(tmp_path / "db")
    other = sqlite3.connect(tmp_path / "db", isolation_level=None, check_same_thread=False)
    try:
        await thread.submit(_insert, ("warm", False), raw=True)
        thread.inline_runs = 0
        other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
        job = asyncio.ensure_future(thread.submit(_insert, ("queued", False), raw=True))
        await asyncio.sleep(0.2)
        assert not job.done() and thread.inline_runs == 0  # waiting on the thread, the loop still runs
        other.execute("COMMIT")
        assert await asyncio.wait_for(job, 30) == "queued"
        assert _keys(tmp_path / "db") == {"warm", "queued"}
    finally:
        other.close()
        thread.close()


async def test_nothing_runs_inline_unless_the_caller_says_it_may(tmp_path: Path) -> None:
    thread = _inline_thread(tmp_path / "db")
    thread.inline_when = lambda: False
    try:
        await asyncio.gather(*[thread.submit(_insert, (f"k{i}", False), raw=True) for i in range(20)])
        assert thread.inline_runs == 0
        assert len(_keys(tmp_path / "db")) == 20
    finally:
        thread.close()


def _insert_all(conn: sqlite3.Connection, keys: list[str]) -> list[str]:
    for key in keys:
        _insert(conn, key, key.endswith("!"))
    return keys


def _merged(calls: list[tuple[Any, ...]]) -> tuple[tuple[Any, ...], Any]:
    sizes = [len(args[0]) for args in calls]

    def split(done: list[str]) -> list[list[str]]:
        return [done[sum(sizes[:i]) : sum(sizes[: i + 1])] for i in range(len(sizes))]

    return ([key for args in calls for key in args[0]],), split


async def test_queued_calls_of_a_merged_function_run_as_one(tmp_path: Path) -> None:
    thread = _thread(tmp_path / "db")
    calls: list[int] = []

    def counted(conn: sqlite3.Connection, keys: list[str]) -> list[str]:
        calls.append(len(keys))
        return _insert_all(conn, keys)

    thread.merge(counted, _merged)
    try:
        results = await asyncio.gather(*[thread.submit(counted, ([f"k{i}", f"j{i}"],), raw=True) for i in range(100)])
    finally:
        thread.close()
    assert results == [[f"k{i}", f"j{i}"] for i in range(100)]  # each caller gets its own part
    assert sum(calls) == 200 and len(calls) < 50, calls
    assert len(_keys(tmp_path / "db")) == 200


async def test_a_merged_call_that_fails_runs_again_one_by_one(tmp_path: Path) -> None:
    thread = _thread(tmp_path / "db")
    thread.merge(_insert_all, _merged)
    try:
        jobs = [thread.submit(_insert_all, ([f"k{i}!" if i == 37 else f"k{i}"],), raw=True) for i in range(100)]
        results = await asyncio.gather(*jobs, return_exceptions=True)
    finally:
        thread.close()
    assert [str(r) for r in results if isinstance(r, ValueError)] == ["k37!"]  # the bad call fails alone
    assert _keys(tmp_path / "db") == {f"k{i}" for i in range(100) if i != 37}
