"""What ``knflow dev`` prints for a person: a line per deploy, per run start and end, and its stop."""

from __future__ import annotations

import io
import re
from pathlib import Path

from knflow_control_plane.domain import events as ev
from knflow_control_plane.domain.events import LifecycleEvent
from knflow_control_plane.domain.model import RunStatus
from knflow_control_plane.domain.records import Transition
from knflow_control_plane.entrypoints.dev_console import DevConsole

RUN = "01a248a19c61a34f12b1cf1c8d76"


def lines(out: io.StringIO) -> list[str]:
    """The lines written, without their time of day."""
    return [re.sub(r"^\d\d:\d\d:\d\d ", "", line) for line in out.getvalue().splitlines()]


def transition(status: RunStatus, *events: LifecycleEvent) -> Transition:
    return Transition(RUN, status, events=list(events))


def test_where_it_listens_and_keeps_its_state() -> None:
    out = io.StringIO()
    DevConsole(out).listening("http://127.0.0.1:8080", Path("/home/ada/.knflow"), "sqlite:////home/ada/.knflow/k.db")
    assert lines(out) == [
        "knflow dev: listening on http://127.0.0.1:8080 (API docs: http://127.0.0.1:8080/docs)",
        "knflow dev: state in /home/ada/.knflow (database sqlite:////home/ada/.knflow/k.db)",
        "knflow dev: deploy with `knflow deploy FILE.py`; Ctrl-C stops",
    ]


def test_a_line_per_deploy_failed_ones_with_the_first_line_of_their_error() -> None:
    out = io.StringIO()
    console = DevConsole(out)
    console.on_deploy({"workflow": "counting", "version": "56caf3064478aa", "status": "ready", "error": None})
    console.on_deploy({"workflow": "counting", "version": None, "status": "failed", "error": "build failed\nlogs"})
    assert lines(out) == ["deployed counting (56caf3064478): ready", "deploying counting failed: build failed"]


def test_a_line_per_run_start_and_end_and_a_retry_keeps_the_workflow_name() -> None:
    out = io.StringIO()
    console = DevConsole(out)
    console.on_transition(
        transition(RunStatus.RUNNING, LifecycleEvent(ev.RUN_STARTED, RUN, data={"workflow": "counting"}))
    )
    console.on_transition(transition(RunStatus.RUNNING, LifecycleEvent(ev.STEP_STARTED, RUN, "extract")))
    error = {"step": "count", "type": "ActionError", "message": "no words\nmore", "code": 422}
    console.on_transition(transition(RunStatus.FAILED, LifecycleEvent(ev.RUN_FAILED, RUN, data={"error": error})))
    console.on_transition(transition(RunStatus.RUNNING, LifecycleEvent(ev.RUN_STARTED, RUN, data={"retry": True})))
    console.on_transition(transition(RunStatus.SUCCEEDED, LifecycleEvent(ev.RUN_SUCCEEDED, RUN, data={"result": 2})))
    said = lines(out)
    assert said[0] == f"run {RUN} counting started"
    assert re.fullmatch(rf"run {RUN} counting failed in \d+ ms: step count: ActionError: no words", said[1])
    assert said[2] == f"run {RUN} counting retried"
    assert re.fullmatch(rf"run {RUN} counting succeeded in \d+ ms", said[3]) and len(said) == 4


def test_a_run_it_did_not_see_start_ends_on_a_line_of_its_own() -> None:
    out = io.StringIO()
    DevConsole(out).on_transition(transition(RunStatus.CANCELLED, LifecycleEvent(ev.RUN_CANCELLED, RUN)))
    assert lines(out) == [f"run {RUN} cancelled"]


def test_how_it_stops() -> None:
    out = io.StringIO()
    console = DevConsole(out)
    console.stopping(0, 0.0)
    console.stopping(2, 57.6)
    console.stopped(forced=False)
    console.stopped(forced=True)
    assert lines(out) == [
        "knflow dev: stopping",
        "knflow dev: stopping, waiting up to 58 s for 2 steps still running (Ctrl-C again to stop now)",
        "knflow dev: stopped",
        "knflow dev: stopped at once; steps that were running are retried at the next start",
    ]
