"""The web UI at scale (issue 25): the API pages it reads, and its pages loaded in headless chromium.

    .venv/bin/python bench/ui_bench.py [--quick] [--runs N] [--items N] [--json rows.json]

A ``knflow dev`` control plane (SQLite, local functions) gets ``--runs`` runs of a one-step workflow
(3,000; 500 with ``--quick``) through ``POST /v1/runs``, as fast as one client starts them, while the runs
page is open in chromium: the table counts the list reads that page made meanwhile (the feed's changes
are coalesced, so a burst of runs costs a few reads a second, not one per run). Then:

- the API pages the UI reads (``GET /v1/runs``: the first page, filtered by workflow, by status, the
  waiting filter, a page deep in the history; one run), p50/p99 over 50 requests each; target < 50 ms;
- the runs page and a run's page in headless chromium, from navigation to the table's 50 rows (the DAG
  drawn), p50/p99 over 10 loads each; target < 2 s (a bounded time: the page reads one page, whatever the
  history holds);
- with ``--items`` (10,000; 1,000 with ``--quick``), one run of a map step of that many items: its run
  (``GET /v1/runs/{id}``: the step's counts, and its size in bytes; its light view ``?outputs=false``; the
  map step in full), the items' first page, a failed-only
  page and a page deep in the list, and the run page and the items page in chromium (each also with its
  reads of the light view sent for the whole run: the pages as they were before that view). When the control
  plane refuses map steps (before issue 24's engine), those rows say so.

Every number depends on this host (2 shared cores here): ``docs/performance.md`` keeps them.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, Route, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import emit, p50_p99, row
from tests.e2e.control_plane.processes import ControlPlane, wait_for
from tests.e2e.ui.conftest import FLOWS, chromium_path

#: Wraps the page's fetch to count its reads of the runs list.
COUNT_READS = """() => {
  window.__listReads = 0;
  const original = window.fetch;
  window.fetch = (url, init) => {
    if (String(url).startsWith("/v1/runs?")) window.__listReads += 1;
    return original(url, init);
  };
}"""
API_TARGET_MS = 50.0
PAGE_TARGET_MS = 2000.0


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run")
    parser.add_argument("--runs", type=int, help="runs in the history (3,000; 500 with --quick)")
    parser.add_argument("--items", type=int, help="items of the map run (10,000; 1,000 with --quick; 0: none)")
    parser.add_argument("--json", type=Path, help="write the rows here (else print them)")
    return parser.parse_args()


def deploy(cp: ControlPlane, work: Path, flow: str) -> str | None:
    """``knflow deploy`` a flow of the UI tests; None when it deployed, else the CLI's one-line refusal."""
    project = work / "project"
    project.mkdir(exist_ok=True)
    shutil.copy(FLOWS / flow, project / flow)
    done = cp.cli("deploy", str(project / flow))
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["refused"])[-1]


def timed(samples: int, call: Callable[[], object]) -> list[float]:
    """Milliseconds of ``samples`` calls, after one unmeasured call (caches warm, as a page's are)."""
    call()
    out = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def api_row(client: httpx.Client, scenario: str, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """p50/p99 of one GET the UI makes; its size in the detail."""
    size = len(client.get(path, params=params).content)

    def call() -> None:
        client.get(path, params=params).raise_for_status()

    stats = p50_p99(timed(50, call))
    return row(
        f"ui api: {scenario}",
        "sqlite",
        **stats,
        target=f"< {API_TARGET_MS:.0f} ms",
        met=stats["p99_ms"] < API_TARGET_MS,
        detail=f"GET {path} {params or ''}: {size:,} bytes",
    )


def page_row(page: Page, scenario: str, url: str, ready: Callable[[Page], None], loads: int = 10) -> dict[str, Any]:
    """p50/p99 of loading ``url`` in chromium until ``ready`` holds; the API requests of one load."""
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/v1/" in r.url else None)

    def load() -> None:
        requests.clear()
        page.goto(url)
        ready(page)

    stats = p50_p99(timed(loads, load))
    asked = ", ".join(sorted({u.split("127.0.0.1", 1)[-1].split(":", 1)[-1].split("/", 1)[-1] for u in requests}))
    return row(
        f"ui page: {scenario}",
        "sqlite",
        **stats,
        target=f"< {PAGE_TARGET_MS:.0f} ms",
        met=stats["p99_ms"] < PAGE_TARGET_MS,
        detail=f"{len(requests)} API requests a load: {asked[:300]}",
    )


def rows_shown(count: int) -> Callable[[Page], None]:
    def ready(page: Page) -> None:
        page.locator("table.runs tr[data-run], table.items tr[data-item]").nth(count - 1).wait_for()

    return ready


def dag_drawn(step: str) -> Callable[[Page], None]:
    def ready(page: Page) -> None:
        page.locator(f'.dag g.node[data-step="{step}"][data-status="succeeded"]').wait_for()

    return ready


def whole_run(page: Page, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``measure()`` with the page's reads of the run's light view (``?outputs=false``) sent without it: the
    page as it was before that view (it read the whole run), measured in the same sitting."""

    def whole(route: Route) -> None:
        route.continue_(url=route.request.url.split("?", 1)[0])

    page.route("**/v1/runs/*?outputs=false", whole)
    try:
        return measure()
    finally:
        page.unroute("**/v1/runs/*?outputs=false", whole)


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield browser
        finally:
            browser.close()


def seed_runs(cp: ControlPlane, client: httpx.Client, page: Page, count: int) -> dict[str, Any]:
    """``count`` runs started back to back while the runs page is open; a row: the start rate, and the
    list reads the open page made meanwhile."""
    page.goto(f"{cp.url}/ui/runs")
    page.locator(".live").wait_for()
    # Counted in the page (Playwright's sync API hears of requests only while it is called).
    page.evaluate(COUNT_READS)
    started = time.perf_counter()
    for n in range(count):
        client.post("/v1/runs", json={"workflow": "tick", "inputs": {"n": n}}).raise_for_status()
    seconds = time.perf_counter() - started
    during = int(page.evaluate("window.__listReads"))
    wait_for(lambda: not client.get("/v1/runs", params={"status": "running", "limit": 1}).json()["runs"], 600, "runs")
    return row(
        "ui: runs started while the runs page is open",
        "sqlite",
        throughput=round(count / seconds * 60),
        unit="runs/min",
        target="the open page reads a few pages a second, not one per run",
        met=during / seconds < 10,
        detail=f"{count:,} runs in {seconds:.1f} s; the page read the list {during} times "
        f"({during / seconds:.1f}/s) meanwhile",
    )


def history_rows(cp: ControlPlane, client: httpx.Client, page: Page, runs: int) -> list[dict[str, Any]]:
    """The runs list and one run, with the history seeded: the API pages, then the pages in chromium."""
    cursor = None
    for _ in range(20):  # 20 pages of 50 back: a page deep in the history
        after: dict[str, str] = {"cursor": cursor} if cursor else {}
        cursor = client.get("/v1/runs", params={"limit": 50, **after}).json()["next_cursor"] or cursor
    last = client.get("/v1/runs", params={"limit": 1}).json()["runs"][0]["id"]
    return [
        api_row(client, "runs, first page of 50", "/v1/runs", {"limit": 50}),
        api_row(client, "runs of a workflow", "/v1/runs", {"workflow": "tick", "limit": 50}),
        api_row(client, "runs by status", "/v1/runs", {"status": "succeeded", "limit": 50}),
        api_row(client, "runs waiting (none wait)", "/v1/runs", {"status": "running", "waiting": "true", "limit": 50}),
        api_row(client, "runs, page 21 (cursor)", "/v1/runs", {"limit": 50, "cursor": cursor}),
        api_row(client, "one run", f"/v1/runs/{last}"),
        page_row(page, "runs page (50 rows)", f"{cp.url}/ui/runs", rows_shown(min(50, runs))),
        page_row(page, "a run's page (DAG drawn)", f"{cp.url}/ui/runs/{last}", dag_drawn("tock")),
    ]


def map_rows(cp: ControlPlane, client: httpx.Client, page: Page, work: Path, items: int) -> list[dict[str, Any]]:
    """One run of a map step of ``items`` items: its run and items pages, over the API and in chromium."""
    refused = deploy(cp, work, "fanout.py")
    if refused is not None:
        return [row("ui: map of many items", "sqlite", detail=f"not measured: knflow deploy refused it: {refused}")]
    started = time.perf_counter()
    run = client.post("/v1/runs", json={"workflow": "fanout", "inputs": {"numbers": list(range(items))}}).json()
    run_id = str(run["id"])
    wait_for(lambda: client.get(f"/v1/runs/{run_id}").json()["status"] != "running", 3600, "the map run", 1.0)
    seconds = time.perf_counter() - started
    base = f"/v1/runs/{run_id}/steps/square/items"
    cursor = None
    for _ in range(min(40, items // 50 - 1)):  # a page deep in the list (page 41 of 10,000 items)
        reply = client.get(base, params={"limit": 50, **({"cursor": cursor} if cursor else {})})
        assert reply.status_code == 200, reply.text
        cursor = reply.json()["next_cursor"] or cursor
    ui = f"{cp.url}/ui/runs/{run_id}"
    return [
        row(f"ui: map run of {items:,} items", "sqlite", throughput=round(items / seconds), unit="items/s"),
        api_row(client, f"map run ({items:,} items)", f"/v1/runs/{run_id}"),
        api_row(client, "map run, light view", f"/v1/runs/{run_id}", {"outputs": "false"}),
        api_row(client, "the map step in full", f"/v1/runs/{run_id}/steps/square"),
        api_row(client, "items, first page of 50", base, {"limit": 50}),
        api_row(client, "items, failed only", base, {"status": "failed", "limit": 50}),
        api_row(client, "items, a page deep in the list", base, {"limit": 50, "cursor": cursor}),
        page_row(page, f"map run page ({items:,} items)", ui, dag_drawn("square")),
        whole_run(page, lambda: page_row(page, "map run page, reading the whole run", ui, dag_drawn("square"))),
        page_row(page, "items page (50 rows)", f"{ui}/steps/square/items", rows_shown(min(50, items))),
        whole_run(
            page,
            lambda: page_row(page, "items page, reading the whole run", f"{ui}/steps/square/items", rows_shown(50)),
        ),
        page_row(
            page, "items page, failed only", f"{ui}/steps/square/items?status=failed", rows_shown(min(50, items // 10))
        ),
    ]


def main() -> None:
    args = arguments()
    runs = args.runs if args.runs is not None else (500 if args.quick else 3000)
    items = args.items if args.items is not None else (1000 if args.quick else 10_000)
    work = Path(tempfile.mkdtemp(prefix="knflow-ui-bench-"))
    cp = ControlPlane(work / ".knflow", env={"KNFLOW_POLL_INTERVAL": "0.2"}).start()
    rows: list[dict[str, Any]] = []
    try:
        refused = deploy(cp, work, "ticks.py")
        assert refused is None, refused
        with httpx.Client(base_url=cp.url, timeout=60) as client, chromium() as browser:
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            rows.append(seed_runs(cp, client, page, runs))
            rows += history_rows(cp, client, page, runs)
            if items:
                rows += map_rows(cp, client, page, work, items)
    finally:
        cp.stop()
        shutil.rmtree(work, ignore_errors=True)
    if args.json is not None:
        emit(rows, args.json)
    table(rows)


def table(rows: list[dict[str, Any]]) -> None:
    """The rows as a table on stdout."""
    print(f"{'scenario':46} {'p50 ms':>8} {'p99 ms':>8} {'throughput':>16} {'target':>12} met  detail")
    for r in rows:
        p50, p99 = (f"{r[k]:.1f}" if k in r else "-" for k in ("p50_ms", "p99_ms"))
        rate = f"{r['throughput']:,} {r['unit']}" if "throughput" in r else "-"
        met = {True: "yes", False: "NO"}.get(r.get("met"), "")  # type: ignore[arg-type]
        target = r.get("target", "")[:12]
        print(f"{r['scenario'][:46]:46} {p50:>8} {p99:>8} {rate:>16} {target:>12} {met:3}  {r.get('detail', '')}")


if __name__ == "__main__":
    main()
