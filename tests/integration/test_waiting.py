"""Waiting for runs that finish elsewhere (another replica, another process): one watcher looks for
every waited run at once, and wakes each waiter when its run has finished."""

from __future__ import annotations

import asyncio
import time
from typing import cast

from knflow_control_plane.adapters.clock import SystemClock
from knflow_control_plane.adapters.sqlalchemy_store import SqlAlchemyStore
from knflow_control_plane.ports import FunctionBackend
from knflow_control_plane.service.functions import Functions
from knflow_control_plane.service.orchestrator import Orchestrator, OrchestratorSettings
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
