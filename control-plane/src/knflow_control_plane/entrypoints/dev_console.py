"""What ``knflow dev`` tells the person who started it, on stdout: where it listens and keeps its state,
one line per deploy, per run start and end and per approval a run waits for, and how it stops. Logs stay on stderr."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, TextIO

from ..domain import events as ev
from ..domain.records import Transition

#: Runs whose workflow and start time are kept to write their end line (the oldest are forgotten).
_REMEMBERED = 10_000
_ENDS = {ev.RUN_SUCCEEDED: "succeeded", ev.RUN_FAILED: "failed", ev.RUN_CANCELLED: "cancelled"}


class DevConsole:
    """Lines for a person watching ``knflow dev``.

    Args:
        out: where they go (stdout), flushed line by line: a pipe or a file sees each at once.
    """

    def __init__(self, out: TextIO):
        self.out = out
        self._runs: OrderedDict[str, tuple[str, float | None]] = OrderedDict()

    def say(self, line: str, *, stamp: bool = False) -> None:
        """Write one line (``stamp``: after the time of day)."""
        prefix = time.strftime("%H:%M:%S ") if stamp else ""
        self.out.write(f"{prefix}{line}\n")
        self.out.flush()

    def listening(self, url: str, state_dir: Path, database: str) -> None:
        """The control plane is ready."""
        self.say(f"knflow dev: listening on {url} (API docs: {url}/docs)")
        self.say(f"knflow dev: state in {state_dir} (database {database})")
        self.say("knflow dev: deploy with `knflow deploy FILE.py`; Ctrl-C stops")

    def on_deploy(self, outcome: dict[str, Any]) -> None:
        """A deploy finished (see ``Workflows.on_deploy``)."""
        name, version = outcome.get("workflow"), outcome.get("version")
        label = f"{name} ({str(version)[:12]})" if version else str(name)
        if outcome.get("status") == "ready":
            self.say(f"deployed {label}: ready", stamp=True)
        else:
            self.say(f"deploying {label} failed: {_first_line(outcome.get('error'))}", stamp=True)

    def on_transition(self, transition: Transition) -> None:
        """A line for each run started or ended in ``transition``, and each approval it waits for."""
        for event in transition.events:
            if event.type in (ev.RUN_STARTED, ev.RUN_QUEUED):
                self._started(event.run_id, event.data, queued=event.type == ev.RUN_QUEUED)
            elif event.type in _ENDS:
                self._ended(event.run_id, _ENDS[event.type], event.data)
            elif event.type == ev.STEP_WAITING and event.data.get("kind") == "approval":
                workflow = self._runs.get(event.run_id, ("",))[0]
                asked = _first_line(event.data.get("prompt"))
                line = f"run {event.run_id} {workflow} waits for approval at step {event.step}: {asked}"
                self.say(f"{line} (knflow approve {event.run_id} {event.step})".replace("  ", " "), stamp=True)
            elif event.type == ev.STEP_WAITING and event.data.get("kind") == "event":
                self._waits_for_event(event.run_id, event.step, event.data.get("event") or {})

    def _waits_for_event(self, run_id: str, step: str | None, wanted: dict[str, Any]) -> None:
        """The event a step waits for: its type, and the data it must hold (what to post)."""
        workflow = self._runs.get(run_id, ("",))[0]
        fields = ", ".join(f"{path} = {json.dumps(value)}" for path, value in (wanted.get("match") or {}).items())
        line = f"run {run_id} {workflow} waits at step {step} for event {wanted.get('type')}"
        self.say(f"{line} where {fields}" if fields else line, stamp=True)

    def stopping(self, running: int, seconds: float) -> None:
        """The first Ctrl-C (or SIGTERM): what the stop waits for."""
        if running:
            steps = "1 step" if running == 1 else f"{running} steps"
            wait = f"waiting up to {seconds:.0f} s for {steps} still running"
            self.say(f"knflow dev: stopping, {wait} (Ctrl-C again to stop now)")
        else:
            self.say("knflow dev: stopping")

    def stopped(self, *, forced: bool) -> None:
        """The control plane has stopped."""
        if forced:
            self.say("knflow dev: stopped at once; steps that were running are retried at the next start")
        else:
            self.say("knflow dev: stopped")

    def _started(self, run_id: str, data: dict[str, Any], *, queued: bool = False) -> None:
        known = self._runs.get(run_id)
        workflow = str(data.get("workflow") or (known[0] if known else "?"))  # a retry's event has none
        self._remember(run_id, workflow, time.monotonic())
        if queued:  # its concurrency key is at its limit: it starts when a run of the key ends
            self.say(f"run {run_id} {workflow} queued: its concurrency key is busy (knflow get {run_id})", stamp=True)
            return
        verb = "retried" if data.get("retry") else "started from its queue" if data.get("queued") else "started"
        self.say(f"run {run_id} {workflow} {verb}", stamp=True)

    def _remember(self, run_id: str, workflow: str, began: float | None) -> None:
        self._runs[run_id] = (workflow, began)
        self._runs.move_to_end(run_id)
        if len(self._runs) > _REMEMBERED:
            self._runs.popitem(last=False)

    def _ended(self, run_id: str, status: str, data: dict[str, Any]) -> None:
        workflow, began = self._runs.get(run_id, ("", None))
        self._remember(run_id, workflow, None)  # its workflow, for the line of a retry
        took = f" in {_duration(time.monotonic() - began)}" if began is not None else ""
        line = f"run {run_id} {workflow} {status}{took}".replace("  ", " ")
        error = data.get("error")
        if status == "failed" and isinstance(error, dict):
            step = f"step {error.get('step')}: " if error.get("step") else ""
            line += f": {step}{error.get('type')}: {_first_line(error.get('message'))}"
        self.say(line, stamp=True)


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _first_line(text: object, width: int = 160) -> str:
    line = str(text or "").strip().splitlines()[0] if str(text or "").strip() else "unknown error"
    return line if len(line) <= width else line[: width - 1] + "…"
