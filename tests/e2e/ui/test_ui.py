"""The web UI as a user sees it: a real ``knflow dev``, workflows deployed with the CLI, headless chromium.

Screenshots of each page go to ``.knflow/artifacts/ui/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from playwright.sync_api import Locator, Page, expect

from ..control_plane.processes import ROOT, ControlPlane
from .conftest import FLOWS, deploy, shot

#: Generous: the first invocation of each action starts its function (a cold start, a venv build).
WAIT_MS = 60_000


def start_gated(cp: ControlPlane, gate: Path, marker: Path) -> str:
    started = cp.cli("run", "gated", "-i", f"gate={gate}", "-i", f"marker={marker}", "--no-wait", "--json")
    assert started.returncode == 0, started.stderr
    run_id: str = json.loads(started.stdout)["id"]
    return run_id


def node(page: Page, step: str) -> Locator:
    """The DAG node of ``step``."""
    return page.locator(f'.dag g.node[data-step="{step}"]')


def test_a_run_goes_green_live_and_a_failed_step_is_retried_from_its_panel(
    plane: ControlPlane, page: Page, tmp_path: Path
) -> None:
    deploy(plane, tmp_path, ROOT / "examples" / "pipeline.py", FLOWS / "gated.py")
    assert httpx.post(f"{plane.url}/hooks/pipeline", json={"text": "to be or not to be"}, timeout=60).status_code == 200

    page.goto(f"{plane.url}/ui/")
    expect(page.locator('table.runs tr[data-status="succeeded"]')).to_have_count(1)
    expect(page.locator("table.runs")).to_contain_text("pipeline")
    shot(page, "runs")

    gate, marker = tmp_path / "gate", tmp_path / "marker"
    run_id = start_gated(plane, gate, marker)
    page.goto(f"{plane.url}/ui/runs/{run_id}")
    page.evaluate("window.__sameDocument = true")  # gone if anything reloads the page
    expect(node(page, "wait_for")).to_have_attribute("data-status", "running", timeout=WAIT_MS)
    expect(node(page, "check")).to_have_attribute("data-status", "pending")
    node(page, "wait_for").click()  # its output streams into the panel while it runs
    running = page.locator('.step-panel[data-step="wait_for"] .logs[data-live="yes"]')
    expect(running).to_contain_text(f"waiting for {gate}", timeout=WAIT_MS)
    shot(page, "run-running")

    gate.touch()  # the run moves on; the page hears it from the live feed
    expect(node(page, "check")).to_have_attribute("data-status", "failed", timeout=WAIT_MS)
    expect(page.locator(".run-page")).to_have_attribute("data-status", "failed")
    expect(node(page, "wait_for")).to_have_attribute("data-status", "succeeded")

    node(page, "check").click()
    panel = page.locator('.step-panel[data-step="check"]')
    expect(panel.locator(".traceback")).to_contain_text("Traceback")
    expect(panel.locator(".traceback")).to_contain_text(f"RuntimeError: marker {marker} is missing")
    shot(page, "run-failed-step")

    marker.touch()
    panel.get_by_role("button", name="Retry from this step").click()
    expect(page.locator(".run-page")).to_have_attribute("data-status", "succeeded", timeout=WAIT_MS)
    expect(node(page, "check")).to_have_attribute("data-status", "succeeded")
    expect(panel.locator(".logs")).to_contain_text("marker found")
    expect(panel.get_by_role("button", name=re.compile(r"#1"))).to_be_visible()  # the failed attempt is kept
    assert page.evaluate("window.__sameDocument") is True
    run = httpx.get(f"{plane.url}/v1/runs/{run_id}", timeout=10).json()
    assert run["status"] == "succeeded" and run["result"] == {"ok": True, "after": str(gate)}
    assert [len(s["attempts"]) for s in run["steps"]] == [1, 2]  # wait_for's output was reused
    shot(page, "run")


def test_workflow_pages_show_versions_triggers_and_the_dag(plane: ControlPlane, page: Page, tmp_path: Path) -> None:
    deploy(plane, tmp_path, ROOT / "examples" / "pipeline.py", FLOWS / "gated.py")
    page.goto(f"{plane.url}/ui/workflows")
    rows = page.locator("tr[data-workflow]")
    expect(rows).to_have_count(3)
    expect(page.locator('tr[data-workflow="nightly"]')).to_contain_text("ready")
    shot(page, "workflows")

    page.locator('tr[data-workflow="nightly"] a').click()
    schedule = page.locator('li[data-trigger="schedule"]')
    expect(schedule).to_contain_text("0 3 * * * (Europe/Paris)")
    expect(schedule.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT0[12]:00:00Z$"))
    expect(page.locator('li[data-trigger="http"]')).to_contain_text("POST /hooks/nightly")

    page.goto(f"{plane.url}/ui/workflows/pipeline")
    expect(page.locator(".dag g.node")).to_have_count(3)
    expect(page.locator(".dag polyline.edge")).to_have_count(2)
    expect(page.locator(".versions li")).to_have_count(1)
    shot(page, "workflow")


def test_a_running_run_is_cancelled_from_its_page(plane: ControlPlane, page: Page, tmp_path: Path) -> None:
    deploy(plane, tmp_path, FLOWS / "gated.py")
    gate = tmp_path / "gate"
    run_id = start_gated(plane, gate, tmp_path / "marker")
    page.goto(f"{plane.url}/ui/runs/{run_id}")
    expect(node(page, "wait_for")).to_have_attribute("data-status", "running", timeout=WAIT_MS)
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator(".run-page")).to_have_attribute("data-status", "cancelled")
    expect(node(page, "wait_for")).to_have_attribute("data-status", "cancelled")
    expect(page.get_by_role("button", name="Retry from failure")).to_be_visible()
    shot(page, "run-cancelled")
    gate.touch()  # lets the abandoned attempt end; its late reply changes nothing
    assert httpx.get(f"{plane.url}/v1/runs/{run_id}", timeout=10).json()["status"] == "cancelled"


def test_with_auth_on_the_ui_asks_for_a_key_and_keeps_it_for_the_tab(tmp_path: Path, page: Page) -> None:
    key = "ui-test-bootstrap-key"
    cp = ControlPlane(tmp_path / ".knflow", env={"KNFLOW_AUTH": "true", "KNFLOW_BOOTSTRAP_KEY": key}).start()
    try:
        assert httpx.get(f"{cp.url}/v1/stream", timeout=10).status_code == 401
        page.goto(f"{cp.url}/ui/runs")
        prompt = page.locator("form.key-prompt")
        expect(prompt).to_be_visible()
        shot(page, "key-prompt")
        prompt.locator('input[name="api-key"]').fill(key)
        prompt.get_by_role("button", name="Use this key").click()
        expect(prompt).to_be_hidden()
        expect(page.locator("table.runs")).to_be_visible()
        expect(page.locator(".problem")).to_have_count(0)
        page.reload()
        expect(page.get_by_role("button", name="Forget key")).to_be_visible()
        expect(page.locator("form.key-prompt")).to_be_hidden()
    finally:
        cp.stop()
