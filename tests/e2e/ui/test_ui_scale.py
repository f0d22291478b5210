"""The UI never asks for the whole history: every list it reads is one page, limited and filtered by
the server (issue 25: 10,000 map items, 1,000 runs a minute). Each test records the requests the browser
makes while a person pages through, and checks each list request names a ``limit`` of at most 100.
The times are measured in ``bench/ui_bench.py``, never here.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.sync_api import Page, Request, expect

from ..control_plane.processes import ControlPlane, wait_for
from .conftest import FLOWS, deploy, shot

#: The largest page the UI may ask for; the API allows up to 500.
MOST = 100
WAIT_MS = 60_000


class Requests:
    """The API requests a page makes, as (path, query) pairs."""

    def __init__(self, page: Page) -> None:
        self.seen: list[tuple[str, dict[str, list[str]]]] = []
        page.on("request", self._record)

    def _record(self, request: Request) -> None:
        url = urlsplit(request.url)
        if url.path.startswith("/v1/"):
            self.seen.append((url.path, parse_qs(url.query)))

    def lists(self) -> list[dict[str, list[str]]]:
        """The queries of the list requests: runs, and a map step's items."""
        return [query for path, query in self.seen if path == "/v1/runs" or path.endswith("/items")]

    def assert_paginated(self) -> None:
        assert self.lists(), self.seen
        for query in self.lists():
            assert 0 < int(query["limit"][0]) <= MOST, query


def start_ticks(cp: ControlPlane, count: int) -> list[str]:
    """``count`` runs of ``tick`` through the API, once they have all finished."""
    with httpx.Client(base_url=cp.url, timeout=60) as client:
        started = [client.post("/v1/runs", json={"workflow": "tick", "inputs": {"n": n}}) for n in range(count)]
        ids = [str(reply.json()["id"]) for reply in started]
        wait_for(
            lambda: len(client.get("/v1/runs", params={"status": "succeeded", "limit": 500}).json()["runs"]) == count,
            120,
            f"{count} runs to succeed",
        )
    return ids


def test_the_runs_page_reads_one_limited_page_at_a_time(plane: ControlPlane, page: Page, tmp_path: Path) -> None:
    deploy(plane, tmp_path, FLOWS / "ticks.py")
    ids = start_ticks(plane, 60)
    requests = Requests(page)
    page.goto(f"{plane.url}/ui/runs")
    rows = page.locator("table.runs tr[data-run]")
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-run", ids[-1])  # newest first
    page.get_by_role("button", name="Older →").click()
    expect(rows).to_have_count(10)
    expect(rows.last).to_have_attribute("data-run", ids[0])
    page.locator('select[name="status"]').select_option("failed")
    expect(page.get_by_text("No runs match.")).to_be_visible()

    requests.assert_paginated()
    queries = requests.lists()
    assert any("cursor" in q for q in queries), queries  # the older page continues from a cursor
    assert any(q.get("status") == ["failed"] for q in queries), queries  # filtered by the server
    shot(page, "runs-paged")

    before = len(requests.seen)
    page.goto(f"{plane.url}/ui/runs/{ids[0]}")
    expect(page.locator(".run-page")).to_have_attribute("data-status", "succeeded")
    # A run's page reads that run (and its plan, files and feed), no list of runs.
    on_run_page = [path for path, _ in requests.seen[before:]]
    assert f"/v1/runs/{ids[0]}" in on_run_page and "/v1/runs" not in on_run_page, on_run_page
