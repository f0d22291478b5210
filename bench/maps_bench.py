"""Map steps (issue 24) on the embedded stack (SQLite) and on Postgres, beside the chain rows.

    .venv/bin/python bench/maps_bench.py [--quick] [--stores sqlite,postgres] [--json out.json]

The control plane runs in this process (as ``knflow dev`` would), its functions in real runtime
processes, as in ``orchestration_bench.py``:

- a map of 1,000 no-op items, ``max_parallel=100``: the run's wall time (median of a few runs after a
  warm one; 200 items with ``--quick``), and the most items in flight at once, from the items' records
  (each item's first launch to its recorded end); target <= 0.5 s on SQLite, <= 0.8 s on Postgres, and
  never more than 100 in flight;
- a map of 10,000 items (2,000 with ``--quick``): this process's RSS growth over the run (peak above
  the RSS before it), target <= 30 MB; then ``GET /v1/runs/{id}/steps/{step}/items`` of that run (a
  page of 100: the first, a page deep in the list, the failed ones), p50/p99 over 50 requests through
  the ASGI app, target < 50 ms.

Every number depends on this host (2 shared cores here): ``docs/performance.md`` keeps them.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import PeakRss, arguments, emit, p50_p99, row
from tests.services import fresh_postgres_database

FLOW = """
from knflow import action, workflow


@action(concurrency=128)
async def numbers(count: int) -> list:
    return list(range(count))


@action(concurrency=128)
async def noop(value: int = 0) -> int:
    return value


@action(concurrency=128)
async def join(values: list) -> int:
    return len(values)


@workflow
def mapped(count: int = 1000):
    return noop.map(value=numbers(count=count), max_parallel=100)


@workflow
def fanned():  # the same work as plain steps, all at once (orchestration_bench's scenario 5): the floor
    seed = noop.named("seed")(value=0)
    return join(values=[noop.named(f"f{i}")(value=seed) for i in range(FAN)])
"""
#: the parallel steps of the fan-out run beside the map, as the same work in plain steps
FAN = 1000
#: (SQLite, Postgres): the wall of a map of 1,000 items, s
WALL_TARGET = (0.5, 0.8)


async def _plane(database_url: str | None, state: Path) -> Any:
    from knflow._loader import load_file
    from knflow_control_plane.bootstrap import build
    from knflow_control_plane.settings import Settings

    (state / "flows").mkdir(parents=True, exist_ok=True)
    (state / "flows" / "mapflows.py").write_text(FLOW.replace("range(FAN)", f"range({FAN})"))
    settings = Settings(state_dir=state / ".knflow", database_url=database_url, poll_interval=1.0, idle_timeout=600.0)
    cp = build(settings)
    await cp.start()
    project = load_file(state / "flows" / "mapflows.py")
    for spec in project.workflows.values():
        await cp.workflows.register(spec, project.files)
        await cp.workflows.deploy(spec.name)
    return cp, settings


async def _map_run(cp: Any, count: int) -> tuple[str, float]:
    started = time.perf_counter()
    transition = await cp.workflows.start("mapped", {"count": count})
    state = await cp.orchestrator.wait(transition.run_id, 600)
    elapsed = time.perf_counter() - started
    assert state is not None
    assert state[0] == "succeeded", state
    assert state[1] == list(range(count))
    return str(transition.run_id), elapsed


async def _items(cp: Any, run_id: str) -> list[Any]:
    from knflow_control_plane.domain.map_views import ItemFilter

    found: list[Any] = []
    cursor = -1
    while True:
        page = await cp.store.list_items(ItemFilter(run_id, "noop", cursor=cursor, limit=1000))
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = int(page.next_cursor)


def _most_in_flight(items: list[Any]) -> int:
    """The most items between their launch and their recorded end at once."""
    marks = sorted([(i.started_at, 1) for i in items] + [(i.finished_at, -1) for i in items])
    most = current = 0
    for _, step in marks:
        current += step
        most = max(most, current)
    return most


async def wall(cp: Any, count: int, runs: int) -> dict[str, Any]:
    await _map_run(cp, count)  # warm: the functions scaled up, connections and caches
    await _fan_run(cp)
    walls, fans, most = [], [], 0
    for _ in range(runs):
        run_id, elapsed = await _map_run(cp, count)
        walls.append(elapsed)
        most = max(most, _most_in_flight(await _items(cp, run_id)))
        fans.append(await _fan_run(cp))
    return {
        "seconds": statistics.median(walls),
        "max_s": max(walls),
        "in_flight": most,
        "fan_s": statistics.median(fans),
    }


async def _fan_run(cp: Any) -> float:
    """One run of the fan-out of FAN plain steps (under this host's load now, as the map's)."""
    started = time.perf_counter()
    transition = await cp.workflows.start("fanned", {})
    state = await cp.orchestrator.wait(transition.run_id, 600)
    assert state is not None
    assert state[0] == "succeeded", state
    return time.perf_counter() - started


async def big(cp: Any, settings: Any, count: int) -> dict[str, Any]:
    import httpx

    from knflow_control_plane.entrypoints.api import create_app

    rss = PeakRss()
    before = rss.current_mb()
    rss.reset()
    run_id, elapsed = await _map_run(cp, count)
    grown = rss.peak_mb() - before
    app = create_app(settings, cp)
    app.state.control_plane = cp
    base = f"/v1/runs/{run_id}/steps/noop/items"
    pages: dict[str, list[float]] = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        queries: tuple[tuple[str, dict[str, str | int]], ...] = (
            ("first", {"limit": 100}),
            ("deep", {"limit": 100, "cursor": str(count // 2)}),
            ("failed", {"limit": 100, "status": "failed"}),
        )
        for name, params in queries:
            await client.get(base, params=params)  # warm: the statement compiled, the page's caches
            times = []
            for _ in range(50):
                started = time.perf_counter()
                reply = await client.get(base, params=params)
                times.append((time.perf_counter() - started) * 1000)
                assert reply.status_code == 200, reply.text
            pages[name] = times
    return {"seconds": elapsed, "rss_mb": grown, "pages": {k: p50_p99(v) for k, v in pages.items()}}


async def bench_store(store: str, quick: bool) -> list[dict[str, Any]]:
    url = await fresh_postgres_database("bench") if store == "postgres" else None
    pg = store == "postgres"
    small, runs, large = (200, 3, 2000) if quick else (1000, 5, 10000)
    with tempfile.TemporaryDirectory() as tmp:
        cp, settings = await _plane(url, Path(tmp))
        try:
            out = await wall(cp, small, runs)
            print(f"  {store} map of {small}: {out}", file=sys.stderr, flush=True)
            many = await big(cp, settings, large)
            print(f"  {store} map of {large}: {many}", file=sys.stderr, flush=True)
        finally:
            await cp.stop()
    target = WALL_TARGET[1 if pg else 0]
    worst_page = max(p["p99_ms"] for p in many["pages"].values())
    return [
        row(
            f"map of {small:,} no-op items, max_parallel 100",
            store,
            p50_ms=out["seconds"] * 1000,
            throughput=small / out["seconds"],
            unit="items/s",
            target=f"<={target} s, <=100 in flight",
            met=out["seconds"] <= target and out["in_flight"] <= 100,
            ratio_to_floor=out["seconds"] / out["fan_s"] * FAN / small,
            detail=(
                f"median of {runs} runs (max {out['max_s']:.2f} s); most in flight {out['in_flight']}; x floor = per "
                f"item over per step of a fan-out of {FAN} plain steps run alongside ({out['fan_s']:.2f} s)"
            ),
        ),
        row(
            f"map of {large:,} items: RSS growth",
            store,
            p50_ms=many["seconds"] * 1000,
            throughput=large / many["seconds"],
            unit="items/s",
            peak_rss_mb=many["rss_mb"],
            target="<=30 MB",
            met=many["rss_mb"] <= 30,
            detail="p50 = the run's wall time; RSS = this process's peak above its RSS before the run",
        ),
        row(
            f"map of {large:,} items: API page of 100",
            store,
            p50_ms=max(p["p50_ms"] for p in many["pages"].values()),
            p99_ms=worst_page,
            target="<50 ms",
            met=worst_page < 50,
            detail="; ".join(f"{k} {v['p50_ms']:.1f}/{v['p99_ms']:.1f} ms" for k, v in many["pages"].items()),
        ),
    ]


def main() -> None:
    args = arguments(__doc__)
    rows = [r for store in args.stores.split(",") for r in asyncio.run(bench_store(store, args.quick))]
    emit(rows, args.json)


if __name__ == "__main__":
    main()
