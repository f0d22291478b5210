"""A store outage, as a user sees it: a real ``knflow dev`` on its own Postgres database, which is then made
read-only (as a primary demoted to a replica would be). Readiness turns 503, the API answers 503 without
SQL in the body, the background loops log once when the outage starts and once when it ends (no
traceback storm), and everything works again once the database is writable."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.e2e.control_plane.processes import ControlPlane, wait_for
from tests.services import drop_postgres_database, fresh_postgres_database, postgres_url

FLOWS = Path(__file__).parent / "flows"
SQL_WORDS = ("INSERT", "UPDATE", "SELECT", "[SQL", "parameters", "background on this error")


async def _alter(database: str, change: str) -> None:
    admin = await asyncpg.connect(postgres_url())
    try:
        await admin.execute(f"ALTER DATABASE {database} {change}")
        # Sessions read the setting when they start: end the plane's, as a failover would.
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await admin.close()


def set_read_only(url: str, read_only: bool) -> None:
    change = "SET default_transaction_read_only = on" if read_only else "RESET default_transaction_read_only"
    asyncio.run(_alter(url.rsplit("/", 1)[1], change))


def set_reachable(url: str, reachable: bool) -> None:
    asyncio.run(_alter(url.rsplit("/", 1)[1], f"WITH ALLOW_CONNECTIONS {str(reachable).lower()}"))


@pytest.fixture
def database() -> Iterator[str]:
    url = asyncio.run(fresh_postgres_database("outage"))
    yield url
    asyncio.run(drop_postgres_database(url))


def readiness(cp: ControlPlane) -> int:
    try:
        return httpx.get(f"{cp.url}/health/readiness", timeout=10).status_code
    except httpx.HTTPError:
        return 0


def start_run(cp: ControlPlane) -> httpx.Response:
    return httpx.post(f"{cp.url}/v1/runs", params={"wait": 30}, json={"workflow": "chain"}, timeout=60)


def test_a_read_only_database_is_an_outage_readiness_reports_and_the_logs_do_not_drown_in(
    tmp_path: Path, database: str
) -> None:
    shutil.copy(FLOWS / "chain.py", tmp_path / "chain.py")
    env = {"KNFLOW_DATABASE_URL": database, "KNFLOW_POLL_INTERVAL": "0.05", "KNFLOW_LEASE_SECONDS": "2"}
    cp = ControlPlane(tmp_path / ".knflow", env=env).start()
    try:
        deployed = cp.cli("deploy", str(tmp_path / "chain.py"))
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert start_run(cp).json()["status"] == "succeeded"
        before = len(cp.log().splitlines())

        set_read_only(database, True)
        wait_for(lambda: readiness(cp) == 503, 60, "readiness to report the outage")
        refused = start_run(cp)
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert not [word for word in SQL_WORDS if word in refused.text], refused.text
        set_read_only(database, False)
        wait_for(lambda: readiness(cp) == 200, 60, "readiness to report the store back")

        set_reachable(database, False)  # now every loop fails: the poll (every 50 ms), the relay...
        wait_for(lambda: readiness(cp) == 503, 60, "readiness to report the unreachable store")
        refused = start_run(cp)
        assert refused.status_code == 503, refused.text
        assert not [word for word in SQL_WORDS if word in refused.text], refused.text
        time.sleep(3)
        during = cp.log().splitlines()[before:]

        set_reachable(database, True)
        wait_for(lambda: readiness(cp) == 200, 60, "readiness to report the store back")
        assert start_run(cp).json()["status"] == "succeeded"
    finally:
        cp.stop()
        set_read_only(database, False)
        set_reachable(database, True)
    assert not [line for line in during if "Traceback" in line], "\n".join(during[-40:])
    # One line per loop and state change (a few loops touch the store), not one per failed poll.
    assert len(during) < 30, "\n".join(during[-40:])
    after = cp.log()
    assert "run store is unavailable" in "\n".join(during) and "available again" in after, after[-3000:]
