"""The live feed's fan-out: per-run listeners, bounded queues that turn into one resync."""

from __future__ import annotations

from knflow_control_plane.domain.events import RUN_STARTED, RUN_SUCCEEDED, STEP_SUCCEEDED, LifecycleEvent
from knflow_control_plane.domain.model import RunStatus
from knflow_control_plane.domain.records import Transition
from knflow_control_plane.service import run_feed
from knflow_control_plane.service.run_feed import RESYNC, Change, RunFeed


def transition(run_id: str, *events: LifecycleEvent) -> Transition:
    return Transition(run_id, RunStatus.RUNNING, events=list(events))


async def test_listeners_hear_the_changes_of_their_runs_without_results() -> None:
    feed = RunFeed()
    everything, one = feed.listen(), feed.listen("r1")
    feed.on_transition(transition("r1", LifecycleEvent(RUN_STARTED, "r1", data={"workflow": "w", "inputs": {}})))
    feed.on_transition(transition("r2", LifecycleEvent(STEP_SUCCEEDED, "r2", "s", {"outputs": {"x": 1}})))
    assert one.queue.get_nowait() == Change("run", "r1", RUN_STARTED, None, "running", {"workflow": "w"})
    assert one.queue.empty()
    assert [c.run_id for c in (everything.queue.get_nowait(), everything.queue.get_nowait())] == ["r1", "r2"]
    feed.leave(one)
    assert feed.listening == 1


async def test_a_listener_that_falls_behind_gets_one_resync() -> None:
    feed = RunFeed()
    slow = feed.listen()
    for n in range(run_feed.QUEUE_SIZE + 5):
        feed.on_transition(transition(f"r{n}", LifecycleEvent(RUN_STARTED, f"r{n}")))
    assert slow.queue.qsize() < run_feed.QUEUE_SIZE
    changes = [slow.queue.get_nowait() for _ in range(slow.queue.qsize())]
    assert RESYNC in changes and changes[-1].run_id == f"r{run_feed.QUEUE_SIZE + 4}"


async def test_without_listeners_a_transition_costs_nothing_and_close_ends_streams() -> None:
    feed = RunFeed()
    feed.on_transition(transition("r1", LifecycleEvent(RUN_STARTED, "r1")))  # nobody: nothing kept
    listener = feed.listen()
    feed.close()
    assert listener.queue.get_nowait().kind == "closed"


async def test_a_run_started_by_anothers_end_is_heard_by_its_own_listeners_as_running() -> None:
    feed = RunFeed()
    ended, started, everything = feed.listen("r1"), feed.listen("r2"), feed.listen()
    done = Transition(
        "r1",
        RunStatus.SUCCEEDED,
        events=[LifecycleEvent(RUN_SUCCEEDED, "r1"), LifecycleEvent(RUN_STARTED, "r2", data={"queued": True})],
    )  # r2 waited in r1's concurrency queue: r1's end started it, in the same transaction
    feed.on_transition(done)
    assert ended.queue.get_nowait() == Change("run", "r1", RUN_SUCCEEDED, None, "succeeded", {})
    assert ended.queue.empty()
    assert started.queue.get_nowait() == Change("run", "r2", RUN_STARTED, None, "running", {})
    assert started.queue.empty() and everything.queue.qsize() == 2
