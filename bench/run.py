"""`make bench`: every benchmark, one summary table, and the numbers as JSON in bench/results/.

Numbers live here, never in tests: medians, p99s and ratios to a floor measured in the same run (this
machine is noisy). Each benchmark below is a script taking ``--quick`` and ``--json PATH`` that writes a
list of rows (``bench/benchlib.py: row``); register a new one by adding a line to BENCHMARKS.
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

# (script, runs in --quick too)
BENCHMARKS: list[tuple[str, bool]] = [
    ("bench/orchestration_bench.py", True),  # scenarios 1, 2, 5, 6 on SQLite and Postgres
    ("bench/maps_bench.py", True),  # issue 24: a map of 1,000 no-op items; 10,000 items: RSS, the items page
    ("bench/trigger_bench.py", True),  # scenario 3: HTTP trigger -> first step, embedded
    ("bench/cold_start_bench.py", True),  # scenario 4: cold starts of the local backend
    ("bench/kafka_bench.py", True),  # scenario 7: Kafka trigger -> run start, ingest (eventing)
    ("bench/event_waits_bench.py", True),  # 10,000 runs waiting on wait_for_event: RSS, event -> resumed
    ("bench/files_bench.py", True),  # files: control plane peak RSS moving 200 MiB (20 MiB in --quick)
    ("bench/runtime_bench.py", False),  # function runtime detail: imports, HTTP layer, CPU per request
    ("bench/kube_client_bench.py", True),  # knflow's Kubernetes client against lightkube (knative.sh's cluster)
    ("bench/ui_bench.py", True),  # issue 25: the web UI: API pages < 50 ms, pages in chromium, 10,000 map items
]
COLUMNS = f"{'scenario':40} {'store':8} {'p50 ms':>9} {'p99 ms':>9} {'throughput':>15} {'RSS MB':>7} {'x floor':>7} met"


def run(script: str, quick: bool, out: Path) -> list[dict[str, Any]]:
    """Run one benchmark; its rows (a failed benchmark becomes one row saying so)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, script, *(["--quick"] if quick else []), "--json", str(out)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, check=False, stdout=subprocess.DEVNULL)
    print(f"  {script}: {time.perf_counter() - started:.0f} s", flush=True)
    if done.returncode != 0 or not out.exists():
        return [{"scenario": script, "store": "-", "detail": f"failed with exit code {done.returncode}"}]
    rows = json.loads(out.read_text())
    return rows if isinstance(rows, list) else []  # runtime_bench.py writes its own detail dict


def fmt(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else "-"


def line(r: dict[str, Any]) -> str:
    throughput = f"{r['throughput']:.0f} {r.get('unit', '')}" if "throughput" in r else "-"
    met = {True: "yes", False: "NO"}.get(r.get("met"), "")  # type: ignore[arg-type]
    return (
        f"{r['scenario'][:40]:40} {r['store']:8} {fmt(r.get('p50_ms')):>9} {fmt(r.get('p99_ms')):>9} "
        f"{throughput:>15} {fmt(r.get('peak_rss_mb'), 0):>7} {fmt(r.get('ratio_to_floor'), 1):>7} {met}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (under 2 minutes)")
    args = parser.parse_args()
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    details: dict[str, Any] = {}
    for script, in_quick in BENCHMARKS:
        if args.quick and not in_quick:
            continue
        out = results / f"{Path(script).stem}-{stamp}.json"
        got = run(script, args.quick, out)
        rows += got
        if not got and out.exists():
            details[Path(script).stem] = json.loads(out.read_text())
    print(f"\n{COLUMNS}")
    for r in rows:
        print(line(r))
    print("\ndetails:")
    for r in rows:
        if "detail" in r or "target" in r:
            print(f"  {r['scenario']} [{r['store']}]: target {r.get('target', '-')}; {r.get('detail', '')}")
    elapsed = time.perf_counter() - started
    combined = {"quick": args.quick, "stamp": stamp, "seconds": elapsed, "rows": rows, **details}
    out = results / f"bench-{stamp}.json"
    out.write_text(json.dumps(combined, indent=1))
    print(f"\n{elapsed:.0f} s; written: {out}")


if __name__ == "__main__":
    main()
