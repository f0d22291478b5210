"""Waiting for runs that finish elsewhere (another replica, another process): one watcher looks for
every waited run at once, and wakes each waiter when its run has finished."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest

from knflow_control_plane.adapters.clock import SystemClock
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.domain.model import Outcome
from knflow_control_plane.ports import FunctionBackend, HttpReply, HttpRequest
from knflow_control_plane.service.functions import Functions
from knflow_control_plane.service.orchestrator import Orchestrator, OrchestratorSettings
from knflow_control_plane.service.outcomes import CheckedReply
from knflow_runtime.contract import decode_invoke
from tests.integration.test_store_contract import W, drive, new_run


def orchestrator(store: SqlAlchemyStore) -> Orchestrator:
    # Waiting reads only the store: no function is invoked here.
    return Orchestrator(
        store, cast(Functions, None), cast(FunctionBackend, None), SystemClock(), OrchestratorSettings()
    )


async def test_many_waiters_of_runs_finished_elsewhere_are_woken_with_their_results(store: SqlAlchemyStore) -> None:
    waiting = orchestrator(store)
    created = [await store.create_run(new_run(), time.time(), W) for _ in range(30)]
    waits = [asyncio.ensure_future(waiting.wait(c.run_id, 30.0)) for c in created]
    await asyncio.sleep(0.1)
    assert not any(w.done() for w in waits)
    for transition in created[:20]:  # finished through the store alone: nothing applied on `waiting`
        await drive(store, list(transition.claims))
    states = await asyncio.wait_for(asyncio.gather(*waits[:20]), 10.0)
    assert all(state == ("succeeded", 4, None) for state in states)
    assert not any(w.done() for w in waits[20:])  # still running: still waiting
    for w in waits[20:]:
        w.cancel()
    await asyncio.gather(*waits[20:], return_exceptions=True)
    await waiting.stop()


async def test_a_wait_for_a_run_that_never_appears_ends_at_its_timeout_with_none(store: SqlAlchemyStore) -> None:
    waiting = orchestrator(store)
    started = time.monotonic()
    assert await waiting.wait("never-created", 0.3, just_published=True) is None
    assert time.monotonic() - started >= 0.3
    await waiting.stop()


class _Ready:
    """Functions that are always deployed."""

    async def ensure(self, project: str, action: str, version: str) -> None:
        return None

    def name(self, project: str, action: str) -> str:
        return action


class _GatedBackend:
    """Replies to every invocation once ``open`` is set: the attempts stay in flight until then."""

    def __init__(self, failing: str | None = None) -> None:
        self.open = asyncio.Event()
        self.failing = failing  # an action whose attempts fail, not to be retried

    async def invoke(self, action: str, version: str, request: HttpRequest, timeout: float) -> HttpReply:
        await self.open.wait()
        if action == self.failing:
            error = {"type": "ValueError", "message": "no", "code": None, "retryable": False, "traceback": None}
            return CheckedReply(200, {}, b"", Outcome.failed(error))
        inputs = decode_invoke(request.headers, request.body).data["inputs"]
        outputs = {"result": inputs["x"] + 1} if action == "inc" else {"sum": inputs["a"] + inputs["b"]}
        return CheckedReply(200, {}, b"", Outcome.succeeded(outputs))


async def test_a_wait_on_a_run_in_flight_here_is_answered_by_the_transition_that_ends_it_without_a_read(
    store: SqlAlchemyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _GatedBackend()
    here = Orchestrator(
        store, cast(Functions, _Ready()), cast(FunctionBackend, backend), SystemClock(), OrchestratorSettings()
    )
    reads: list[str] = []
    run_status = store.run_status

    async def counted(run_id: str) -> tuple[str, Any, Any] | None:
        reads.append(run_id)
        return await run_status(run_id)

    monkeypatch.setattr(store, "run_status", counted)
    created = await store.create_run(new_run(), time.time(), here.worker())
    here.apply(created)  # its two first steps are now in flight here, held by the backend
    waited = asyncio.ensure_future(here.wait(created.run_id, 30.0))
    await asyncio.sleep(0.1)
    assert reads == [] and not waited.done()
    backend.open.set()
    assert await asyncio.wait_for(waited, 10.0) == ("succeeded", 4, None)
    assert reads == []  # the run's end event carried its result
    # A run with nothing in flight here is read at once: it may have ended already, anywhere.
    assert await here.wait(created.run_id, 1.0) == ("succeeded", 4, None)
    assert reads == [created.run_id]
    await here.stop()


async def test_the_state_a_wait_is_handed_by_the_ending_transition_is_the_stored_one(store: SqlAlchemyStore) -> None:
    for failing in (None, "join"):
        backend = _GatedBackend(failing)
        here = Orchestrator(
            store, cast(Functions, _Ready()), cast(FunctionBackend, backend), SystemClock(), OrchestratorSettings()
        )
        created = await store.create_run(new_run(), time.time(), here.worker())
        here.apply(created)
        waited = asyncio.ensure_future(here.wait(created.run_id, 30.0))
        await asyncio.sleep(0)
        backend.open.set()
        state = await asyncio.wait_for(waited, 10.0)
        assert state is not None and state[0] == ("failed" if failing else "succeeded")
        assert state == await store.run_status(created.run_id)
        await here.stop()


async def test_a_wait_begun_while_the_runs_completions_wait_to_be_recorded_reads_nothing(
    store: SqlAlchemyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = _GatedBackend()
    backend.open.set()  # the functions reply at once
    here = Orchestrator(
        store, cast(Functions, _Ready()), cast(FunctionBackend, backend), SystemClock(), OrchestratorSettings()
    )
    recording, held = asyncio.Event(), asyncio.Event()
    complete, run_status = store.complete, store.run_status
    reads: list[str] = []

    async def held_back(*args: Any, **kwargs: Any) -> Any:
        recording.set()  # an attempt has ended: nothing of its run is in flight, its outcome not recorded
        await held.wait()
        return await complete(*args, **kwargs)

    async def counted(run_id: str) -> tuple[str, Any, Any] | None:
        reads.append(run_id)
        return await run_status(run_id)

    monkeypatch.setattr(store, "complete", held_back)
    monkeypatch.setattr(store, "run_status", counted)
    created = await store.create_run(new_run(), time.time(), here.worker())
    here.apply(created)
    await asyncio.wait_for(recording.wait(), 10.0)
    waited = asyncio.ensure_future(here.wait(created.run_id, 30.0))
    await asyncio.sleep(0.05)
    held.set()
    assert await asyncio.wait_for(waited, 10.0) == ("succeeded", 4, None)
    assert reads == []
    await here.stop()
