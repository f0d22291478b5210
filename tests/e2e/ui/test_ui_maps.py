"""A map step in a real browser: its node counts the items (a line and a bar), moving live while they
run; its panel's counts drill down into the items page, one page of 50 at a time, filtered by status on
the server, each item's output or error (with its traceback) on a click. A real ``knflow dev``, the
workflows deployed with ``knflow deploy``.

Screenshots go to ``.knflow/artifacts/ui/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

from ..control_plane.processes import ControlPlane, wait_for
from .conftest import FLOWS, deploy, shot
from .test_ui_scale import Requests

WAIT_MS = 60_000


def node(page: Page, step: str) -> Locator:
    """The DAG node of ``step``."""
    return page.locator(f'.dag g.node[data-step="{step}"]')


def start(cp: ControlPlane, workflow: str, inputs: dict[str, Any]) -> str:
    reply = httpx.post(f"{cp.url}/v1/runs", json={"workflow": workflow, "inputs": inputs}, timeout=60)
    assert reply.status_code in (200, 201, 202), reply.text
    return str(reply.json()["id"])


def finished(cp: ControlPlane, run_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        run = httpx.get(f"{cp.url}/v1/runs/{run_id}", timeout=30).json()
        return run if run["status"] not in ("running", "queued") else None

    return dict(wait_for(done, 120, f"run {run_id} to finish"))


def test_a_map_step_counts_its_items_and_drills_down_into_a_page_of_them(
    plane: ControlPlane, page: Page, tmp_path: Path
) -> None:
    deploy(plane, tmp_path, FLOWS / "fanout.py")
    run_id = start(plane, "fanout", {"numbers": list(range(120))})  # 12 of them (ending in 3) fail
    run = finished(plane, run_id)
    counts = {s["name"]: s for s in run["steps"]}["square"]["map"]
    assert counts == {"total": 120, "succeeded": 108, "failed": 12, "running": 0, "pending": 0, "skipped": 0}, counts

    requests = Requests(page)
    page.goto(f"{plane.url}/ui/runs/{run_id}")
    square = node(page, "square")
    expect(square).to_have_attribute("data-kind", "map")
    expect(square.locator(".node-detail")).to_have_text("108/120 ok · 12 failed")
    expect(square.locator(".map-bar rect")).to_have_count(2)  # succeeded and failed
    expect(page.locator('.waterfall .lane[data-lane="square"]')).to_contain_text("square 120 items")  # one lane
    square.click()
    panel = page.locator('.step-panel[data-step="square"]')
    expect(panel.locator('.map-counts a[data-items="failed"]')).to_have_text("12 failed")
    expect(panel.locator('.map-counts a[data-items="all"]')).to_have_text("120 items")
    # The result (a list of 120, error records included) is cut at 200 lines until asked for whole.
    result = page.locator("section", has=page.get_by_role("heading", name="Result"))
    expect(result.locator('pre.json[data-cut="yes"]')).to_have_count(1)
    shot(page, "run-map")
    result.get_by_role("button", name="Show all").click()
    expect(result.locator("pre.json")).to_contain_text('"index": 113')

    panel.locator('.map-counts a[data-items="failed"]').click()
    rows = page.locator("table.items tr[data-item]")
    expect(rows).to_have_count(12)
    assert page.url.endswith(f"/ui/runs/{run_id}/steps/square/items?status=failed")
    expect(page.locator('table.items tr[data-item][data-status="failed"]')).to_have_count(12)
    rows.first.click()
    detail = page.locator('tr.item-detail[data-detail="3"]')
    expect(detail).to_contain_text("ValueError: item 3 is refused")
    expect(detail.locator(".traceback")).to_contain_text("Traceback")
    shot(page, "items-failed")

    page.locator('select[name="status"]').select_option("")  # every item, a page at a time
    expect(rows).to_have_count(50)
    expect(rows.first).to_have_attribute("data-item", "0")
    page.get_by_role("button", name="Next →").click()
    expect(rows.first).to_have_attribute("data-item", "50")
    page.get_by_role("button", name="Next →").click()
    expect(rows).to_have_count(20)
    expect(page.get_by_role("button", name="Next →")).to_be_disabled()
    page.locator('tr[data-item="104"]').click()
    expect(page.locator('tr.item-detail[data-detail="104"]')).to_contain_text("10816")
    shot(page, "items")

    requests.assert_paginated()
    items = [q for path, q in requests.seen if path.endswith("/items")]
    assert any(q.get("status") == ["failed"] for q in items), items  # filtered by the server
    assert any("cursor" in q for q in items), items  # later pages continue from a cursor
    assert all(not path.startswith("/v1/runs?") for path, _ in requests.seen), requests.seen


def test_a_map_step_s_counts_move_live_while_its_items_run(plane: ControlPlane, page: Page, tmp_path: Path) -> None:
    deploy(plane, tmp_path, FLOWS / "fanout.py")
    gates = [tmp_path / f"gate-{n}" for n in range(4)]
    run_id = start(plane, "held", {"gates": [str(g) for g in gates]})
    page.goto(f"{plane.url}/ui/runs/{run_id}")
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    held = node(page, "hold")
    expect(held.locator(".node-detail")).to_have_text("0/4 ok · 4 running", timeout=WAIT_MS)
    gates[0].touch()
    gates[1].touch()
    expect(held.locator(".node-detail")).to_have_text("2/4 ok · 2 running", timeout=WAIT_MS)
    shot(page, "run-map-running")
    for gate in gates[2:]:
        gate.touch()
    expect(page.locator(".run-page")).to_have_attribute("data-status", "succeeded", timeout=WAIT_MS)
    expect(held.locator(".node-detail")).to_have_text("4/4 ok")
    assert page.evaluate("window.__sameDocument") is True
