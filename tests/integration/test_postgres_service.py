"""``scripts/services/postgres.sh``: the durability it is asked for is the one the running server has.

``make bench`` starts the server with ``KNFLOW_PG_DURABLE=1`` (fsync on: its commits are the ones the
targets speak of); the tests use it with fsync off. Either ``start`` converges a running server by a
reload, so a bench between two test runs leaves nothing behind.
"""

from __future__ import annotations

import os
import subprocess

import asyncpg

from tests.services import SCRIPTS, postgres_url


def _start(durable: bool) -> None:
    env = {**os.environ, "KNFLOW_PG_DURABLE": "1" if durable else "0"}
    subprocess.run(
        ["bash", str(SCRIPTS / "postgres.sh"), "start"], env=env, check=True, capture_output=True, timeout=120
    )


async def _settings() -> tuple[str, str]:
    conn = await asyncpg.connect(postgres_url())
    try:
        # A new connection each time: a reloaded setting reaches a session between its statements.
        fsync, full_page_writes = await conn.fetchval("SHOW fsync"), await conn.fetchval("SHOW full_page_writes")
        await conn.execute("CREATE TEMP TABLE t (x int); INSERT INTO t VALUES (1)")  # a commit still works
        return fsync, full_page_writes
    finally:
        await conn.close()


async def test_start_switches_the_running_server_between_durable_and_fast() -> None:
    try:
        _start(durable=True)
        assert await _settings() == ("on", "on")
        _start(durable=True)  # idempotent
        assert await _settings() == ("on", "on")
    finally:
        _start(durable=False)
    assert await _settings() == ("off", "off")
