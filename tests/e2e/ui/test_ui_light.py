"""A big map run's page in a real browser reads the run's shape, never the whole run: ``GET
/v1/runs/{id}?outputs=false`` (no step outputs, the offloaded result as its size), a step's full record
(``GET /v1/runs/{id}/steps/{step}``) when its panel opens, and the result only on "Show result". The items
page reads the shape too. A real ``knflow dev``, the workflow deployed with ``knflow deploy``."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from ..control_plane.processes import ControlPlane
from .conftest import FLOWS, deploy, shot
from .test_ui_maps import finished, node, start
from .test_ui_scale import Requests

COUNT = 300


def run_reads(requests: Requests, run_id: str) -> list[dict[str, list[str]]]:
    """The queries of every read of the run itself (its shape or the whole of it)."""
    return [query for path, query in requests.seen if path == f"/v1/runs/{run_id}"]


def test_a_big_map_run_s_page_reads_its_shape_and_each_step_when_its_panel_opens(
    plane: ControlPlane, page: Page, tmp_path: Path
) -> None:
    deploy(plane, tmp_path, FLOWS / "padded.py")
    run_id = start(plane, "padded", {"numbers": list(range(COUNT))})
    assert finished(plane, run_id)["status"] == "succeeded"

    requests = Requests(page)
    page.goto(f"{plane.url}/ui/runs/{run_id}")
    expect(page.locator(".run-page")).to_have_attribute("data-status", "succeeded")
    expect(node(page, "pad").locator(".node-detail")).to_have_text(f"{COUNT}/{COUNT} ok")
    result = page.locator("section", has=page.get_by_role("heading", name="Result"))
    expect(result.locator('.omitted[data-omitted="result"]')).to_contain_text("KiB, not loaded")
    assert run_reads(requests, run_id), requests.seen
    assert all(query == {"outputs": ["false"]} for query in run_reads(requests, run_id)), requests.seen

    node(page, "pad").click()
    panel = page.locator('.step-panel[data-step="pad"]')
    expect(panel).to_have_attribute("data-loaded", "yes")
    expect(panel.locator("section", has=page.get_by_role("heading", name="Outputs"))).to_contain_text("000007xxx")
    assert (f"/v1/runs/{run_id}/steps/pad", {}) in requests.seen, requests.seen
    shot(page, "run-light-step")

    node(page, "first").click()
    first = page.locator('.step-panel[data-step="first"]')
    expect(first).to_have_attribute("data-loaded", "yes")
    expect(first.locator("section", has=page.get_by_role("heading", name="Inputs"))).to_contain_text('"numbers"')
    assert all(query == {"outputs": ["false"]} for query in run_reads(requests, run_id)), requests.seen

    result.get_by_role("button", name="Show result").click()
    expect(result.locator("pre.json")).to_be_visible()
    result.get_by_role("button", name="Show all").click()
    expect(result.locator("pre.json")).to_contain_text(f"{COUNT - 1:06d}xxx")
    assert {} in run_reads(requests, run_id), requests.seen  # the whole run, once asked for

    before = len(run_reads(requests, run_id))
    page.goto(f"{plane.url}/ui/runs/{run_id}/steps/pad/items")
    expect(page.locator("table.items tr[data-item]")).to_have_count(50)
    reads = run_reads(requests, run_id)[before:]
    assert reads and all(query == {"outputs": ["false"]} for query in reads), requests.seen
