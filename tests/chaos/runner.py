"""``make chaos``: the workload against ``knflow dev`` under faults, on SQLite or Postgres, checked offline.

    python -m tests.chaos.runner --database sqlite|postgres --minutes 2 [--dir DIR]

Prints the invariant report and the counts table; exits 1 if an invariant is violated.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from .checker import check, report
from .faults import Faults
from .history import TERMINAL, History
from .planes import BIN, ROOT, Plane, Service, ensure_free
from .workload import Workload

FLOWS = Path(__file__).parent / "flows"
#: Ports and state of the run's own services: never the shared ones (15432, 19092).
PG_PORT, KAFKA_PORT = 25432, 29092
LEASE_SECONDS = 3.0
#: Held for the whole run (``make chaos`` and the suite's test_chaos may be started at once).
LOCK = Path("/tmp/knflow-chaos.lock")


def services(workdir: Path, database: str) -> tuple[Service | None, Service | None, dict[str, str]]:
    """Start the run's own Postgres and Kafka (Postgres runs only); the settings the replicas need."""
    if database == "sqlite":
        return None, None, {}
    state = {"KNFLOW_SERVICES_DIR": str(Path.home() / ".cache" / "knflow" / "chaos-services")}
    postgres = Service("postgres.sh", {**state, "KNFLOW_PG_PORT": str(PG_PORT)})
    kafka = Service("kafka.sh", {**state, "KNFLOW_KAFKA_PORT": str(KAFKA_PORT)})
    postgres.run("start")
    # A fresh broker each run: events a previous run left in knflow.triggers would start runs in this
    # run's new database, runs of events this history never sent.
    kafka.run("stop")
    shutil.rmtree(Path(state["KNFLOW_SERVICES_DIR"]) / "kafka", ignore_errors=True)
    kafka.run("start")
    name = f"chaos_{int(time.time())}"
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "-c", f"CREATE DATABASE {name}"],
        check=True,
        capture_output=True,
    )
    env = {
        "KNFLOW_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{PG_PORT}/{name}",
        "KNFLOW_EVENT_BUS": "kafka",
        "KNFLOW_KAFKA_BOOTSTRAP": f"127.0.0.1:{KAFKA_PORT}",
    }
    return postgres, kafka, env


def planes(workdir: Path, database: str, env: dict[str, str]) -> list[Plane]:
    """One replica on SQLite, two on one Postgres (each with its own state dir for its functions)."""
    common = {**env, "KNFLOW_LEASE_SECONDS": str(LEASE_SECONDS), "KNFLOW_POLL_INTERVAL": "0.2"}
    count = 1 if database == "sqlite" else 2
    made = []
    for index in range(count):
        home = workdir / f"replica-{index}"
        home.mkdir(parents=True, exist_ok=True)
        made.append(Plane(f"replica-{index}", home, 18790 + index + (0 if database == "sqlite" else 10), common))
    return made


def deploy(plane: Plane, workdir: Path) -> None:
    """``knflow deploy`` the chaos workflows, as a user would."""
    project = workdir / "flows"
    shutil.copytree(FLOWS, project, dirs_exist_ok=True)
    done = subprocess.run(
        [str(BIN / "knflow"), "deploy", str(project / "chaos_flows.py"), "--url", plane.url],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=workdir,
    )
    if done.returncode != 0:
        raise RuntimeError(f"knflow deploy failed: {done.stderr[-2000:]}")


async def read_all(url: str) -> dict[str, dict[str, Any]]:
    """Every run with its steps and attempts, read through the REST API."""
    runs: dict[str, dict[str, Any]] = {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
            page = _ok(await client.get("/v1/runs", params=params))
            for summary in page["runs"]:
                runs[summary["id"]] = summary
            cursor = page.get("next_cursor")
            if not cursor:
                break
        for run_id in list(runs):
            runs[run_id] = await read_run(client, run_id)
    return runs


async def read_run(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    """A run with its steps and attempts, and each map step's items (every page) in its ``items``."""
    run = _ok(await client.get(f"/v1/runs/{run_id}"))
    for step in run.get("steps", []):
        if step.get("map") is None:
            continue
        step["items"], cursor = [], None
        while True:
            params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = _ok(await client.get(f"/v1/runs/{run_id}/steps/{step['name']}/items", params=params))
            step["items"] += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
    return run


def _ok(reply: httpx.Response) -> dict[str, Any]:
    """The JSON of a 200: a run that could not be read back must fail the run, not count as missing."""
    reply.raise_for_status()
    found: dict[str, Any] = reply.json()
    return found


async def snapshots(history: History, alive: list[Plane], stop: asyncio.Event) -> None:
    """Snapshot each run when first seen terminal (the checker compares it with the final read)."""
    while not stop.is_set():
        up = [p for p in alive if p.up]
        if up:
            try:
                async with httpx.AsyncClient(base_url=up[0].url, timeout=10) as client:
                    for status in sorted(TERMINAL):
                        page = (await client.get("/v1/runs", params={"status": status, "limit": 200})).json()
                        for summary in page["runs"]:
                            if summary["id"] not in history.first_terminal:
                                history.snapshot(await read_run(client, summary["id"]))
            except (httpx.HTTPError, ValueError, KeyError):
                pass  # a replica killed under the reader: the next pass reads another
        await asyncio.sleep(1.0)


async def settle(history: History, alive: list[Plane]) -> None:
    """Wait until no run is going (up to the bound after the last fault), then read every record."""
    end = max(history.last_fault_at, time.time()) + history.bound_seconds
    while time.time() < end:
        up = [p for p in alive if p.up]
        try:
            page = httpx.get(f"{up[0].url}/v1/runs", params={"status": "running", "limit": 1}, timeout=10).json()
            if not page["runs"]:
                break
        except (httpx.HTTPError, IndexError):
            pass
        await asyncio.sleep(1.0)
    history.read_at = time.time()
    history.final = await read_all(next(p for p in alive if p.up).url)


async def chaos(database: str, minutes: float, workdir: Path) -> History:
    """The whole run: services, replicas, deploy, workload + snapshots + faults, settle, read back."""
    with one_at_a_time():
        return await _chaos(database, minutes, workdir)


@contextlib.contextmanager
def one_at_a_time() -> Iterator[None]:
    """Hold the machine's chaos lock: two runs at once would share their fixed ports and services (one
    run's replicas answering the other's requests, one wiping the broker the other uses)."""
    with LOCK.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another chaos run holds {LOCK}: waiting for it", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


async def _chaos(database: str, minutes: float, workdir: Path) -> History:
    history = History(database)
    replicas = planes(workdir, database, {})
    for plane in replicas:  # before the services are touched: a run holding them must not lose them
        ensure_free(plane.port)
    postgres, kafka, env = services(workdir, database)
    for plane in replicas:
        plane.env.update(env)
    markers = workdir / "in-flight"
    markers.mkdir(parents=True, exist_ok=True)
    try:
        for plane in replicas:
            await asyncio.to_thread(plane.start)
        deploy(replicas[0], workdir)
        # No wait after the deploy: events go to both replicas at once (a wait once hid 8 of 297 events left
        # without a run: a trigger read begun before the deploy answered last and hid the new workflow;
        # tests/unit/control_plane/test_trigger_reload.py, tests/e2e/eventing/test_triggers_replicas.py).
        history.started_at = time.time()
        stop = asyncio.Event()
        workload = Workload(history, lambda: [p.url for p in replicas if p.up], markers, stop)
        faults = Faults(history, replicas, markers, postgres, kafka, LEASE_SECONDS)
        tasks = [asyncio.create_task(t) for t in (workload.run(), snapshots(history, replicas, stop))]
        fault_task = asyncio.create_task(faults.run(stop))
        await asyncio.sleep(minutes * 60)
        stop.set()
        await fault_task
        for plane in replicas:
            if plane.process is None or plane.process.poll() is not None:
                await asyncio.to_thread(plane.start)
        await asyncio.gather(*tasks)
        await settle(history, replicas)
    finally:
        for plane in replicas:
            plane.stop()
        for service in (kafka, postgres):
            if service is not None:
                service.run("stop")
    return history


def main(argv: list[str] | None = None) -> int:
    """Run, save the history, check it, print the report; 1 if an invariant is violated."""
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.runner", description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--dir", type=Path, default=ROOT / ".knflow" / "chaos")
    args = parser.parse_args(argv)
    workdir = (args.dir / f"{args.database}-{int(time.time())}").resolve()
    workdir.mkdir(parents=True)
    history = asyncio.run(chaos(args.database, args.minutes, workdir))
    history.save(workdir / "history.json")
    violations = check(history)
    print(report(history, violations))
    print(f"history: {workdir / 'history.json'}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
