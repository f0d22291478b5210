"""Requests waiting for runs when the control plane stops get an answer with the run id, at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from knflow_control_plane.entrypoints.statuses import status_of
from knflow_control_plane.errors import ShuttingDown
from knflow_control_plane.service.run_waiters import RunWaiters


class NothingFinished:
    """A run store where every run is still running (the only method the waiters call)."""

    async def run_status(self, run_id: str) -> tuple[str, Any, Any] | None:
        return ("running", None, None)

    async def finished_among(self, run_ids: list[str]) -> set[str]:
        return set()


async def test_a_waiting_request_is_answered_with_the_run_id_when_the_plane_stops() -> None:
    waiters = RunWaiters(NothingFinished())  # type: ignore[arg-type]
    waiting = asyncio.create_task(waiters.wait("run-1", 60.0))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    waiters.close()
    with pytest.raises(ShuttingDown) as caught:
        await asyncio.wait_for(waiting, 5)
    assert caught.value.fields == {"workflow_run_id": "run-1"} and status_of(caught.value) == 503
    assert "run-1" in str(caught.value)
    with pytest.raises(ShuttingDown):  # and so is one that comes later
        await waiters.wait("run-2", 60.0)
    await waiters.stop()
