"""Group commit on the SQLite thread: transitions queued together share a commit, never an error."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from knflow_control_plane.adapters.sqlite_thread import SqliteThread


def _thread(path: Path) -> SqliteThread:
    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)")
        return conn

    def not_raw(fn: Any, args: tuple[Any, ...]) -> Any:
        return fn(None, *args)

    return SqliteThread(not_raw, connect, lambda raw: raw)


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
