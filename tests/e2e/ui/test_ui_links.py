"""Runs that lead to other runs, in a real browser: a sub-workflow step's panel links to its child run,
the child run's page links back to its parent (with that step open) and the runs list marks the child;
runs held by their workflow's concurrency limit show ``queued`` with their places in the queue, and move
on live. A real ``knflow dev``, the workflows deployed with ``knflow deploy``.

Screenshots go to ``.knflow/artifacts/ui/``.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from ..control_plane.processes import ControlPlane, wait_for
from .conftest import FLOWS, deploy, shot
from .test_ui_maps import finished, node, start

WAIT_MS = 60_000


def test_a_sub_workflow_step_links_to_its_child_run_and_back(plane: ControlPlane, page: Page, tmp_path: Path) -> None:
    deploy(plane, tmp_path, FLOWS / "nested.py")
    parent = start(plane, "outer", {"n": 5})
    run = finished(plane, parent)
    assert run["status"] == "succeeded" and run["result"] == 20, run
    child = {s["name"]: s for s in run["steps"]}["inner"]["child_run_id"]
    assert child, run

    page.goto(f"{plane.url}/ui/runs/{parent}")
    inner = node(page, "inner")
    expect(inner).to_have_attribute("data-kind", "workflow")
    inner.click()
    link = page.locator('.step-panel[data-step="inner"] .child-run a')
    expect(link).to_have_text(child)
    expect(page.locator('.step-panel[data-step="inner"] .child-run')).to_contain_text("of inner")
    shot(page, "run-parent")
    link.click()

    expect(page.locator(".run-page")).to_have_attribute("data-run", child)
    back = page.locator(".run-page .parent-run")
    expect(back).to_contain_text(f"Child run of {parent} (its step inner)")
    expect(node(page, "double")).to_have_attribute("data-status", "succeeded")
    shot(page, "run-child")
    back.locator("a").click()
    expect(page.locator(".run-page")).to_have_attribute("data-run", parent)
    expect(page.locator('.step-panel[data-step="inner"]')).to_be_visible()

    page.goto(f"{plane.url}/ui/runs")
    expect(page.locator(f'tr[data-run="{child}"] .child-of')).to_have_text(f"↳ child of {parent}")
    expect(page.locator(f'tr[data-run="{parent}"] .child-of')).to_have_count(0)


def test_queued_runs_show_their_places_and_move_on_live(plane: ControlPlane, page: Page, tmp_path: Path) -> None:
    deploy(plane, tmp_path, FLOWS / "queued.py")
    gates = [tmp_path / f"gate-{n}" for n in range(3)]
    runs = [start(plane, "orders", {"customer": "acme", "gate": str(gate)}) for gate in gates]

    page.goto(f"{plane.url}/ui/runs")
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    first, second, third = (page.locator(f'tr[data-run="{run}"]') for run in runs)
    expect(first).to_have_attribute("data-status", "running", timeout=WAIT_MS)
    expect(second).to_have_attribute("data-status", "queued")
    expect(second.locator(".queue")).to_have_text("#1 in queue acme")
    expect(third.locator(".queue")).to_have_text("#2 in queue acme")
    page.locator('select[name="status"]').select_option("queued")
    expect(page.locator("tr[data-run]")).to_have_count(2)
    shot(page, "runs-queued")

    page.goto(f"{plane.url}/ui/runs/{runs[2]}")
    page.evaluate("window.__sameDocument = true")
    place = page.locator(".run-page .queue-place")
    expect(place).to_contain_text("Queued: #2 in the queue of acme")
    shot(page, "run-queued")
    gates[0].touch()  # the first run ends, the second starts: the third is next
    expect(place).to_contain_text("Queued: #1 in the queue of acme", timeout=WAIT_MS)
    gates[1].touch()
    expect(page.locator(".run-page")).to_have_attribute("data-status", "running", timeout=WAIT_MS)
    expect(place).to_have_count(0)
    gates[2].touch()
    expect(page.locator(".run-page")).to_have_attribute("data-status", "succeeded", timeout=WAIT_MS)
    assert page.evaluate("window.__sameDocument") is True
    wait_for(lambda: all(finished(plane, run)["status"] == "succeeded" for run in runs), 60, "every run to succeed")
