"""Orchestration benchmarks on the embedded stack: per-step overhead and step throughput, SQLite and Postgres.

Per-step overhead = (run wall time from the store's records - time inside handlers) / steps, on a 10-step
chain of warm no-op actions (handler time of a no-op is ~0, so this is an upper bound). The floor, measured
in the same run: one loopback invoke of the same warm no-op function plus one store transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.services import fresh_postgres_database  # noqa: E402 (after the path is set)

FLOW = """
from knflow import action, workflow

@action
def noop(value: int = 0) -> int:
    return value

@workflow
def chain10(value: int = 0):
    for index in range(10):
        value = noop.named(f"s{index}")(value=value)
    return value

@workflow
def chain5(value: int = 0):
    for index in range(5):
        value = noop.named(f"s{index}")(value=value)
    return value
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _plane(database_url: str | None, state: Path) -> Any:
    from knflow._loader import load_file
    from knflow_control_plane.bootstrap import build
    from knflow_control_plane.settings import Settings

    (state / "flows").mkdir(parents=True, exist_ok=True)
    (state / "flows" / "benchflows.py").write_text(FLOW)
    settings = Settings(state_dir=state / ".knflow", database_url=database_url, poll_interval=1.0)
    cp = build(settings)
    await cp.start()
    project = load_file(state / "flows" / "benchflows.py")
    for spec in project.workflows.values():
        await cp.workflows.register(spec, project.files)
        await cp.workflows.deploy(spec.name)
    return cp


async def _run_and_wait(cp: Any, workflow: str, inputs: dict[str, Any]) -> str:
    transition = await cp.workflows.start(workflow, inputs)
    await cp.orchestrator.wait(transition.run_id, 60)
    return str(transition.run_id)


async def _overhead(cp: Any, runs: int) -> dict[str, float]:
    for _ in range(20):  # warm the functions and the connection
        await _run_and_wait(cp, "chain10", {})
    per_step = []
    for _ in range(runs):
        run_id = await _run_and_wait(cp, "chain10", {})
        view = await cp.store.get_run(run_id)
        assert view.status == "succeeded", view
        per_step.append((view.finished_at - view.created_at) / 10 * 1000)
    return {"p50_ms": statistics.median(per_step), "p99_ms": pct(per_step, 0.99)}


async def _throughput(cp: Any, runs: int) -> dict[str, float]:
    started = time.perf_counter()
    transitions = await asyncio.gather(*[cp.workflows.start("chain5", {"value": i}) for i in range(runs)])
    await asyncio.gather(*[cp.orchestrator.wait(t.run_id, 300) for t in transitions])
    elapsed = time.perf_counter() - started
    states = await asyncio.gather(*[cp.store.run_status(t.run_id) for t in transitions])
    assert all(s[0] == "succeeded" for s in states), {s[0] for s in states}
    return {"steps_per_s": runs * 5 / elapsed, "seconds": elapsed}


async def _floor(cp: Any, samples: int) -> dict[str, float]:
    from knflow_control_plane.ports import HttpRequest
    from knflow_control_plane.service.orchestrator import rfc3339
    from knflow_runtime.contract import encode_invoke

    spec = (await cp.workflows.spec("chain10")).actions["noop"]
    invokes, commits = [], []
    for index in range(samples):
        headers, body = encode_invoke(
            "floor", "s", index + 1, {"inputs": {"value": 1}, "deadline": rfc3339(time.time() + 60)}
        )
        start = time.perf_counter()
        await cp.backend.invoke("noop", spec.version, HttpRequest(headers, body), 30)
        invokes.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        await cp.store.renew_leases("floor", [("none", "none")], time.time())
        commits.append((time.perf_counter() - start) * 1000)
    invoke, commit = statistics.median(invokes), statistics.median(commits)
    return {"invoke_ms": invoke, "commit_ms": commit, "floor_ms": invoke + commit}


async def bench_store(store: str, quick: bool) -> list[dict[str, Any]]:
    url = await fresh_postgres_database("bench") if store == "postgres" else None
    with tempfile.TemporaryDirectory() as tmp:
        cp = await _plane(url, Path(tmp))
        try:
            floor = await _floor(cp, 200 if quick else 1000)
            overhead = await _overhead(cp, 30 if quick else 200)
            throughput = await _throughput(cp, 100 if quick else 1000)
        finally:
            await cp.stop()
    return [
        {
            "scenario": "floor: warm invoke + 1 commit",
            "store": store,
            "p50_ms": floor["floor_ms"],
            "detail": f"invoke {floor['invoke_ms']:.2f} ms + commit {floor['commit_ms']:.2f} ms",
        },
        {
            "scenario": "per-step overhead (10-step chain)",
            "store": store,
            "p50_ms": overhead["p50_ms"],
            "p99_ms": overhead["p99_ms"],
            "ratio_to_floor": overhead["p50_ms"] / floor["floor_ms"],
        },
        {
            "scenario": f"throughput ({100 if quick else 1000} runs x 5 steps)",
            "store": store,
            "throughput": throughput["steps_per_s"],
            "unit": "steps/s",
            "detail": f"{throughput['seconds']:.1f} s",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    rows = [row for store in args.stores.split(",") for row in asyncio.run(bench_store(store, args.quick))]
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
