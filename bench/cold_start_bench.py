"""Cold starts and warm invokes of the local backend, measured with real ``knflow_runtime`` processes.

    .venv/bin/python bench/cold_start_bench.py [--quick] [--runs N] [--invokes N] [--json rows.json]

Cold start: from ``invoke()`` on a function with no instance to its reply, medians over ``--runs``
cold starts, for plain spawn (``python -m knflow_runtime``) and for the fork server. Warm invoke: a
no-op action called ``--invokes`` times in a row through the backend, then the same request sent with
``httpx.AsyncClient`` to the same instance, to compare the backend's HTTP client with httpx.
Scenario 4 of issue #8; its floor is the interpreter's own start (``python -c pass``), measured here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import emit, p50_p99, row

from knflow.spec import ActionSpec
from knflow_control_plane.adapters.local import LocalBackend
from knflow_control_plane.adapters.venv import VenvBuilder
from knflow_control_plane.ports import Artifact, CodeBundle, HttpRequest

CODE = CodeBundle(files={"bench_actions.py": b"def noop(**inputs):\n    return {}\n"}, digest="cold-start-bench")
HEADERS = {
    "ce-specversion": "1.0",
    "ce-type": "dev.knflow.step.invoke",
    "ce-source": "/runs/bench",
    "ce-subject": "s",
    "content-type": "application/json",
}
BODY = b'{"inputs": {}, "deadline": "2999-01-01T00:00:00Z"}'
_ids = iter(range(10**9))


def request() -> HttpRequest:
    """A new invoke attempt (the runtime caches replies by ``ce-id``)."""
    return HttpRequest(headers={**HEADERS, "ce-id": f"bench/s/{next(_ids)}"}, body=BODY)


def summary(name: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"{name:<22}{statistics.median(ms):>9.2f}{p90:>9.2f}{ms[0]:>9.2f}{ms[-1]:>9.2f}{len(ms):>6}"


async def cold_starts(root: Path, artifact: Artifact, *, fork: bool, runs: int) -> list[float]:
    backend = LocalBackend(root / ("fork" if fork else "spawn"), fork_server=fork)
    try:
        times = []
        for n in range(runs + 1):
            action = ActionSpec(name="noop", version=f"v{n}", entrypoint="bench_actions:noop")
            await backend.deploy(action, artifact)
            started = time.perf_counter()
            reply = await backend.invoke("noop", f"v{n}", request(), timeout=60)
            elapsed = time.perf_counter() - started
            assert reply.status == 200, reply.body
            await backend.undeploy("noop", f"v{n}")
            if n:  # the first one also waits for the fork server to import everything
                times.append(elapsed)
        expected = runs + 1 if fork else 0
        assert backend.stats()["cold_starts_forked"] == expected, backend.stats()
        return times
    finally:
        await backend.close()


async def timed(call: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return times


async def warm_invokes(root: Path, artifact: Artifact, count: int) -> tuple[list[float], list[float]]:
    backend = LocalBackend(root / "warm")
    try:
        await backend.deploy(ActionSpec(name="noop", version="w", entrypoint="bench_actions:noop"), artifact)
        await backend.invoke("noop", "w", request(), timeout=60)
        url = (await backend.status("noop", "w")).url
        assert url is not None
        ours = await timed(lambda: backend.invoke("noop", "w", request(), timeout=60), count)
        async with httpx.AsyncClient() as client:

            async def with_httpx() -> None:
                r = request()
                reply = await client.post(url + "/", headers=r.headers, content=r.body)
                assert json.loads(reply.content)["outputs"] == {}

            theirs = await timed(with_httpx, count)
        return ours, theirs
    finally:
        await backend.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 cold starts and 300 invokes (under 30 s)")
    parser.add_argument("--runs", type=int, default=20, help="cold starts per mode")
    parser.add_argument("--invokes", type=int, default=2000, help="warm invokes per client")
    parser.add_argument("--json", type=Path, help="write the summary rows here")
    parser.add_argument("--stores", help="ignored: no store is involved")
    args = parser.parse_args()
    runs, invokes = (8, 300) if args.quick else (args.runs, args.invokes)
    interpreter = [_spawn_seconds() for _ in range(runs)]
    with tempfile.TemporaryDirectory(prefix="knflow-bench-") as tmp:
        root = Path(tmp)
        action = ActionSpec(name="noop", version="v0", entrypoint="bench_actions:noop")
        artifact = (await VenvBuilder(root / "builds").build(action, CODE)).artifact
        spawn = await cold_starts(root, artifact, fork=False, runs=runs)
        fork = await cold_starts(root, artifact, fork=True, runs=runs)
        ours, theirs = await warm_invokes(root, artifact, invokes)
    header = f"{'':<22}{'p50 ms':>9}{'p90 ms':>9}{'min ms':>9}{'max ms':>9}{'n':>6}"
    print("cold start: invoke() on a function scaled to zero -> reply")
    print(header)
    print(summary("spawn", spawn))
    print(summary("fork server", fork))
    print("\nwarm invoke of a no-op action, sequential (runtime included)")
    print(header)
    print(summary("backend (raw asyncio)", ours))
    print(summary("httpx.AsyncClient", theirs))
    if args.json:
        emit(_rows(interpreter, spawn, fork), args.json)


def _spawn_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def _rows(interpreter: list[float], spawn: list[float], fork: list[float]) -> list[dict[str, Any]]:
    floor = statistics.median(interpreter) * 1000
    rows = [row("floor: python -c pass", "-", p50_ms=floor)]
    for name, seconds, target in [("spawn", spawn, 100.0), ("fork server", fork, 50.0)]:
        stats = p50_p99([s * 1000 for s in seconds])
        rows.append(
            row(
                f"4 cold start, {name}",
                "-",
                **stats,
                ratio_to_floor=stats["p50_ms"] / floor,
                target=f"p50<={target:.0f}",
                met=stats["p50_ms"] <= target,
                detail=f"invoke() on a function scaled to zero -> reply; {len(seconds)} starts",
            )
        )
    return rows


if __name__ == "__main__":
    asyncio.run(main())
