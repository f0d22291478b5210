"""The web UI's end-to-end tests: a real ``knflow dev`` and Debian's chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from ..control_plane.processes import ROOT, ControlPlane

FLOWS = Path(__file__).parent / "flows"
#: Screenshots of every page the tests visit (docs/ui.md): kept after the run, for people to look at.
ARTIFACTS = ROOT / ".knflow" / "artifacts" / "ui"


def chromium_path() -> str:
    """Debian's chromium (``KNFLOW_CHROMIUM``, else installed by ``scripts/chromium.sh``)."""
    path = os.environ.get("KNFLOW_CHROMIUM")
    if path:
        return path
    done = subprocess.run(["bash", str(ROOT / "scripts" / "chromium.sh")], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/chromium.sh failed: {done.stderr[-3000:]}")
    return done.stdout.strip().rsplit("=", 1)[-1]


# Module scope: while Playwright's sync API is started, asyncio sees a running loop in this thread, and
# the async tests of other modules (pytest-asyncio) could not start theirs.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    opened = context.new_page()
    yield opened
    context.close()


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[ControlPlane]:
    cp = ControlPlane(tmp_path / ".knflow", env={"KNFLOW_POLL_INTERVAL": "0.2"}).start()
    yield cp
    cp.stop()


def deploy(cp: ControlPlane, tmp: Path, *files: Path) -> None:
    """``knflow deploy`` each file, copied into a project folder, as a user would."""
    project = tmp / "project"
    project.mkdir(exist_ok=True)
    for file in files:
        shutil.copy(file, project / file.name)
        deployed = cp.cli("deploy", str(project / file.name), "--json")
        assert deployed.returncode == 0, deployed.stderr
        assert all(d["status"] == "ready" for d in json.loads(deployed.stdout)["deployments"]), deployed.stdout


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot in the artifacts folder."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
