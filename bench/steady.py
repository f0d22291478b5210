"""A control plane in steady state, for profilers: one scenario of ``orchestration_bench`` in a loop.

    .venv/bin/python bench/steady.py chain|throughput|fan [--store sqlite|postgres] [--seconds 20]

Prints its pid once warm; attach ``py-spy record -p PID -d SECONDS -r 1000 -f raw --threads``. Also
prints wall and control-plane CPU per step of each round, for A/B runs without a profiler.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.orchestration_bench import _plane, _run_and_wait
from bench.orchestration_flows import FAN
from tests.services import fresh_postgres_database


async def _round(cp: object, scenario: str) -> int:
    """One round of ``scenario``; how many steps it ran."""
    if scenario == "chain":
        for _ in range(10):
            await _run_and_wait(cp, "chain10", {})
        return 100
    if scenario == "throughput":
        begun = await asyncio.gather(*[cp.workflows.start("chain5", {"value": i}) for i in range(200)])  # type: ignore[attr-defined]
        await asyncio.gather(*[cp.orchestrator.wait(t.run_id, 600) for t in begun])  # type: ignore[attr-defined]
        return 1000
    await _run_and_wait(cp, "fan", {})
    return FAN + 2


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("scenario", choices=["chain", "throughput", "fan"])
    parser.add_argument("--store", default="sqlite")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    url = await fresh_postgres_database("steady") if args.store == "postgres" else None
    with tempfile.TemporaryDirectory() as tmp:
        cp = await _plane(url, Path(tmp))
        try:
            await _round(cp, args.scenario)  # warm
            print(f"ready pid {os.getpid()}", flush=True)
            end = time.perf_counter() + args.seconds
            while time.perf_counter() < end:
                wall, cpu = time.perf_counter(), time.process_time()
                steps = await _round(cp, args.scenario)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                print(
                    f"{args.scenario}: {steps / wall:7.0f} steps/s, wall {wall * 1000 / steps:.2f} ms/step, "
                    f"CPU {cpu * 1000 / steps:.2f} ms/step",
                    flush=True,
                )
        finally:
            await cp.stop()


if __name__ == "__main__":
    asyncio.run(main())
