"""Approvals in the run state machine: an approval step waits when it would start (status ``waiting``, no
attempt, no claim, its deadline stored), and a decision or its deadline ends it: approved, it succeeds with
who decided and its dependents go on; rejected or timed out, it fails and its run with it. A fact for a step
not waiting (or a timer before its deadline) changes nothing."""

from __future__ import annotations

from typing import Any

from knflow_control_plane.domain import events as ev
from knflow_control_plane.domain.model import Outcome, PlannedStep, RetryPolicy, RunStatus, StepStatus
from knflow_control_plane.domain.records import NewRun
from knflow_control_plane.domain.transitions import (
    ApprovalDecided,
    AttemptFinished,
    Context,
    RetryAsked,
    RunCancelled,
    StepsDue,
    TimerFired,
)

from .run_book import RunBook, worker

S = StepStatus
APPROVAL = {"kind": "approval", "prompt": "Ship it?", "timeout": 60.0}


def new_run(timeout: float | None = 60.0) -> NewRun:
    """``place`` -> approval ``ok`` -> ``ship``, the result ``ship``'s."""
    wait = {**APPROVAL, "timeout": timeout}
    steps = [
        PlannedStep("place", "work", "v1", {}, (), ("ok",), RetryPolicy()),
        PlannedStep("ok", "", "", {}, ("place",), ("ship",), RetryPolicy(), wait=wait),
        PlannedStep("ship", "work", "v1", {"x": {"step": "ok", "output": "by"}}, ("ok",), (), RetryPolicy()),
    ]
    return NewRun("run-1", "default", "flow", "v1", {}, steps, {"step": "ship", "output": "done"})


def placed(timeout: float | None = 60.0) -> RunBook:
    book, first = RunBook.create(new_run(timeout), Context(1.0, worker(8)))
    assert [c.step for c in first.claims] == ["place"]
    done = book.transition([AttemptFinished("place", "run-1/place/1", Outcome.succeeded({}))], Context(2.0, worker(8)))
    assert done.claims == [] and done.started == []  # the approval holds no worker and no attempt
    assert [e.type for e in done.events] == [ev.STEP_SUCCEEDED, ev.STEP_WAITING]
    assert done.events[1].data == {"kind": "approval", "prompt": "Ship it?", "wake_at": 62.0 if timeout else None}
    return book


def test_an_approval_waits_then_its_approval_lets_the_run_go_on() -> None:
    book = placed()
    ok = book.run.steps["ok"]
    assert (ok.status, ok.attempts, ok.wake_at, ok.started_at) == (S.WAITING, 0, 62.0, 2.0)
    decided = book.transition([ApprovalDecided("ok", True, "key-1", "fine")], Context(5.0, worker(8)))
    assert decided.outputs["ok"] == {"approved": True, "by": "key-1", "comment": "fine", "decided_at": 5.0}
    assert [c.step for c in decided.claims] == ["ship"] and decided.claims[0].inputs == {"x": "key-1"}
    assert book.run.steps["ok"].status is S.SUCCEEDED and book.run.steps["ok"].wake_at is None
    again = book.transition([ApprovalDecided("ok", False, "key-2")], Context(6.0, worker(8)))
    assert again.results[0].duplicate and again.steps == {}


def test_a_rejection_fails_the_step_and_the_run_naming_who() -> None:
    book = placed()
    decided = book.transition([ApprovalDecided("ok", False, "local", "no stock")], Context(5.0, worker(8)))
    assert decided.run_status is RunStatus.FAILED
    error = book.run.steps["ok"].error
    assert error is not None and error["type"] == "ApprovalRejected" and error["by"] == "local"
    assert error["message"] == "approval 'ok' rejected by local: no stock"
    assert decided.run is not None and decided.run.error is not None and decided.run.error["step"] == "ok"
    assert book.run.steps["ship"].status is S.SKIPPED


def test_the_deadline_fails_the_step_and_not_before() -> None:
    book = placed()
    early = book.transition([TimerFired("ok")], Context(61.0))
    assert early.results[0].duplicate and book.run.steps["ok"].status is S.WAITING
    late = book.transition([TimerFired("ok")], Context(62.0))
    assert late.run_status is RunStatus.FAILED
    error = book.run.steps["ok"].error
    assert error is not None and error["type"] == "ApprovalTimeout"
    assert error["message"] == "approval 'ok' had no decision within 60 s"


def test_without_a_timeout_nothing_fires_and_a_cancel_ends_the_wait() -> None:
    book = placed(timeout=None)
    assert book.run.steps["ok"].wake_at is None
    assert book.transition([TimerFired("ok")], Context(10_000.0)).results[0].duplicate
    cancelled = book.transition([RunCancelled()], Context(11_000.0))
    assert cancelled.run_status is RunStatus.CANCELLED
    assert book.run.steps["ok"].status is S.CANCELLED
    late: Any = book.transition([ApprovalDecided("ok", True, "local")], Context(11_001.0))
    assert late.results[0].duplicate


def test_a_sleep_waits_until_its_wake_up_time_then_succeeds_once() -> None:
    steps = [
        PlannedStep("before", "work", "v1", {}, (), ("nap",), RetryPolicy()),
        PlannedStep("nap", "", "", {}, ("before",), ("after",), RetryPolicy(), wait={"kind": "sleep", "seconds": 600}),
        PlannedStep("after", "work", "v1", {}, ("nap",), (), RetryPolicy()),
    ]
    book, _ = RunBook.create(NewRun("run-1", "default", "flow", "v1", {}, steps), Context(1.0, worker(8)))
    done = book.transition(
        [AttemptFinished("before", "run-1/before/1", Outcome.succeeded({}))], Context(2.0, worker(8))
    )
    assert done.claims == [] and done.events[-1].data == {"kind": "sleep", "wake_at": 602.0}
    assert book.run.steps["nap"].status is S.WAITING and book.run.steps["nap"].wake_at == 602.0
    assert book.transition([ApprovalDecided("nap", True, "local")], Context(3.0, worker(8))).results[0].duplicate
    assert book.transition([TimerFired("nap")], Context(601.0, worker(8))).results[0].duplicate
    woke = book.transition([TimerFired("nap"), TimerFired("nap")], Context(602.5, worker(8)))
    assert [r.duplicate for r in woke.results] == [False, True]  # a timer fired twice wakes it once
    assert woke.outputs["nap"] == {"woke_at": 602.5} and [c.step for c in woke.claims] == ["after"]


def test_a_retry_after_a_rejection_asks_again() -> None:
    book = placed()
    book.transition([ApprovalDecided("ok", False, "local", "not yet")], Context(5.0, worker(8)))
    retried = book.transition([RetryAsked(None)], Context(6.0))
    assert retried.run_status is RunStatus.RUNNING and retried.steps["ok"].status is S.READY
    asked = book.transition([StepsDue()], Context(7.0, worker(8)))
    assert asked.claims == [] and asked.steps["ok"].status is S.WAITING
    assert book.run.steps["ok"].wake_at == 67.0 and book.run.steps["place"].attempts == 1  # place reused
