"""`make bench`: every benchmark, one summary table, and the numbers as JSON in bench/results/.

Numbers live here, never in tests: medians and ratios measured in one run (this machine is noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run(args: list[str], *, capture: bool = False) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, text=True, check=True, stdout=subprocess.PIPE if capture else None
    )
    return done.stdout or ""


def fmt(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (under 2 minutes)")
    args = parser.parse_args()
    quick = ["--quick"] if args.quick else []
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")

    print("== function runtime ==", flush=True)
    runtime_json = results / f"runtime-{stamp}.json"
    run(["bench/runtime_bench.py", *quick, "--json", str(runtime_json)])
    print("\n== local backend cold starts ==", flush=True)
    run(["bench/cold_start_bench.py", *quick])
    print("\n== orchestration ==", flush=True)
    rows: list[dict[str, Any]] = json.loads(run(["bench/orchestration_bench.py", *quick], capture=True))

    print(f"\n{'scenario':44} {'store':9} {'p50 ms':>8} {'p99 ms':>8} {'throughput':>12} {'x floor':>8}")
    for row in rows:
        throughput = f"{row['throughput']:.0f} {row.get('unit', '')}" if "throughput" in row else "-"
        print(
            f"{row['scenario']:44} {row['store']:9} {fmt(row.get('p50_ms')):>8} {fmt(row.get('p99_ms')):>8} "
            f"{throughput:>12} {fmt(row.get('ratio_to_floor'), 1):>8}"
        )
    combined = {"quick": bool(quick), "orchestration": rows, "runtime": json.loads(runtime_json.read_text())}
    out = results / f"bench-{stamp}.json"
    out.write_text(json.dumps(combined, indent=1))
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
