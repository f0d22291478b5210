"""Workflows the web UI's tests drive: a step that waits for a file the test creates (so the test decides
when a run moves on), a step that fails until another file exists, and a nightly schedule."""

import os
import time

from knflow import action, http_trigger, schedule, workflow


@action(timeout="300s")
def wait_for(gate: str) -> str:
    """Wait until the file ``gate`` exists; its path."""
    print(f"waiting for {gate}", flush=True)  # flushed: the UI shows it while the step runs
    while not os.path.exists(gate):
        time.sleep(0.05)
    print(f"gate {gate} opened")
    return gate


@action
def check(marker: str, opened: str) -> dict[str, object]:
    """Fail (with a traceback) unless the file ``marker`` exists."""
    if not os.path.exists(marker):
        raise RuntimeError(f"marker {marker} is missing")
    print("marker found")
    return {"ok": True, "after": opened}


@workflow
def gated(gate: str, marker: str) -> object:
    """Wait for the gate, then check the marker."""
    return check(marker=marker, opened=wait_for(gate=gate))


@action
def tick() -> dict[str, object]:
    """Nothing: the schedule is what the UI shows."""
    return {"ticked": True}


@workflow(triggers=[schedule(cron="0 3 * * *", timezone="Europe/Paris"), http_trigger(path="/nightly")])
def nightly() -> object:
    """A nightly job."""
    return tick()
