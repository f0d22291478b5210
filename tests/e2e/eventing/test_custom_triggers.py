"""Custom triggers: a ``@trigger`` generator runs as a long-running function posting to ``/v1/events``
(``K_SINK``), under a real ``knflow dev``; its events start runs once per id, also across a restart."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.control_plane.processes import ControlPlane, wait_for

FLOWS = Path(__file__).parent / "flows"


def finished_runs(url: str, count: int) -> list[dict[str, Any]]:
    def look() -> list[dict[str, Any]] | None:
        runs = httpx.get(f"{url}/v1/runs", params={"workflow": "counted", "limit": 100}).json()["runs"]
        done = len(runs) >= count and all(run["status"] != "running" for run in runs)
        return list(runs) if done else None

    return list(wait_for(look, 90, f"{count} finished runs of counted"))


def handled_events(url: str) -> float:
    """This control plane's ``knflow_trigger_events_total{outcome="handled"}``."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "knflow_trigger_events_total" and sample.labels.get("outcome") == "handled":
                return float(sample.value)
    return 0.0


def test_a_custom_trigger_starts_one_run_per_event_it_yields(tmp_path: Path) -> None:
    shutil.copy(FLOWS / "counter.py", tmp_path / "counter.py")
    plane = ControlPlane(tmp_path / ".knflow", env={"KNFLOW_POLL_INTERVAL": "0.2"}).start()
    try:
        deployed = plane.cli("deploy", str(tmp_path / "counter.py"))
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        runs = finished_runs(plane.url, 5)
        assert sorted(run["result"] for run in runs) == [0, 2, 4, 6, 8]
        assert {run["trigger"]["event"]["source"] for run in runs} == {"/triggers/counter"}
        assert sorted(run["trigger"]["event"]["id"] for run in runs) == [f"count-{n}" for n in range(5)]
        plane.stop()
        # Started again, the trigger yields the same events again: their ids start no new run.
        plane.start()
        # Wait until the restarted trigger's six events (five counts and the noise) were all consumed.
        wait_for(lambda: handled_events(plane.url) >= 6, 90, "the restarted trigger's events")
        assert len(finished_runs(plane.url, 5)) == 5
        log = (tmp_path / ".knflow" / "triggers" / "counted_counter.log").read_text()
        assert log.count("trigger counter posts its events to") == 2, log
        undeployed = plane.cli("undeploy", "counted")
        assert undeployed.returncode == 0, undeployed.stderr
    finally:
        plane.stop()


def test_a_trigger_that_is_not_an_async_generator_is_refused_where_it_is_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from knflow import trigger\n\n@trigger\ndef plain():\n    return 1\n")
    plane = ControlPlane(tmp_path / ".knflow").start()
    try:
        result = plane.cli("deploy", str(bad))
        assert result.returncode != 0
        assert "async generator" in result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
    finally:
        plane.stop()
