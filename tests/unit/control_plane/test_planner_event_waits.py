"""Event waits in the run state machine: a ``wait_for_event`` step waits when it would start (status
``waiting``, no attempt, no claim, its deadline stored), indexed by the key of its bound match values; the
event that matches ends it once (its output ``event``, the steps after it go on); its deadline fails it
and the run with it. A key depends on the project, type, source and values (JSON equality), and an event
gives the keys of every shape of its type whose paths its data has, with its source and "any source"."""

from __future__ import annotations

from knflow_control_plane.domain import events as ev
from knflow_control_plane.domain.event_waits import ArrivedEvent, lookup_keys, shape_of, wait_key
from knflow_control_plane.domain.model import Outcome, PlannedStep, RetryPolicy, RunStatus, StepStatus
from knflow_control_plane.domain.records import NewRun
from knflow_control_plane.domain.transitions import (
    ApprovalDecided,
    AttemptFinished,
    Context,
    EventArrived,
    RetryAsked,
    StepsDue,
    TimerFired,
)

from .run_book import RunBook, worker

S = StepStatus
WAIT = {"kind": "event", "type": "com.shop.paid", "source": None, "timeout": 60.0}
PAID = ArrivedEvent("e-1", "com.shop.paid", "/shop", {"order": {"id": "o-7"}, "amount": 3}, project="default")


def status(book: RunBook, name: str = "paid") -> StepStatus:
    """A step's status now (a call: each read is fresh to the type checker too)."""
    return book.run.steps[name].status


def new_run(first_waits: bool = False) -> NewRun:
    """``place`` -> wait ``paid`` (matching ``order.id`` on ``place``'s ``order``) -> ``ship``."""
    match = {"order.id": {"step": "place", "output": "order"}}
    steps = [
        PlannedStep("place", "work", "v1", {}, (), ("paid",), RetryPolicy()),
        PlannedStep("paid", "", "", match, ("place",), ("ship",), RetryPolicy(), wait=WAIT),
        PlannedStep("ship", "work", "v1", {"x": {"step": "paid", "output": "event"}}, ("paid",), (), RetryPolicy()),
    ]
    if first_waits:
        steps = [PlannedStep("paid", "", "", {"order.id": {"value": "o-7"}}, (), (), RetryPolicy(), wait=WAIT)]
    return NewRun("run-1", "default", "flow", "v1", {}, steps, None)


def placed() -> RunBook:
    book, _first = RunBook.create(new_run(), Context(1.0, worker(8)))
    done = book.transition(
        [AttemptFinished("place", "run-1/place/1", Outcome.succeeded({"order": "o-7"}))], Context(2.0, worker(8))
    )
    assert done.claims == [] and done.started == []  # the wait holds no worker and no attempt
    assert [e.type for e in done.events] == [ev.STEP_SUCCEEDED, ev.STEP_WAITING]
    assert done.events[1].data == {
        "kind": "event",
        "wake_at": 62.0,
        "event": {"type": "com.shop.paid", "source": None, "match": {"order.id": "o-7"}},
    }
    [wait] = done.waits
    assert (wait.run_id, wait.step, wait.project, wait.type) == ("run-1", "paid", "default", "com.shop.paid")
    assert wait.key == wait_key("default", "com.shop.paid", None, {"order.id": "o-7"})
    assert wait.shape == shape_of("com.shop.paid", ["order.id"])
    return book


def test_the_event_ends_the_wait_once_and_the_run_goes_on() -> None:
    book = placed()
    assert status(book) is S.WAITING and book.run.steps["paid"].wake_at == 62.0
    resumed = book.transition([EventArrived("paid", PAID)], Context(5.0, worker(8)))
    assert resumed.outputs["paid"] == {"event": PAID.as_output()}
    assert [c.step for c in resumed.claims] == ["ship"]
    assert resumed.claims[0].inputs == {"x": PAID.as_output()}
    assert status(book) is S.SUCCEEDED and book.run.steps["paid"].wake_at is None
    again = book.transition([EventArrived("paid", PAID)], Context(6.0, worker(8)))
    assert again.results[0].duplicate and again.steps == {}  # a redelivery, or a second match: nothing


def test_the_deadline_fails_the_wait_and_the_run_and_a_retry_waits_anew() -> None:
    book = placed()
    assert book.transition([TimerFired("paid")], Context(61.0)).results[0].duplicate
    late = book.transition([TimerFired("paid")], Context(62.0))
    assert late.run_status is RunStatus.FAILED
    error = book.run.steps["paid"].error
    assert error == {
        "type": "EventWaitTimeout",
        "message": "wait_for_event 'paid' got no com.shop.paid event within 60 s",
        "retryable": False,
    }
    assert book.run.steps["ship"].status is S.SKIPPED
    book.transition([RetryAsked()], Context(70.0))
    again = book.transition([StepsDue()], Context(71.0, worker(8)))
    assert status(book) is S.WAITING and [w.step for w in again.waits] == ["paid"]
    assert book.run.steps["paid"].wake_at == 131.0


def test_facts_of_other_waits_do_not_end_it() -> None:
    book = placed()
    other = ArrivedEvent("e-2", "com.shop.refunded", "/shop", {"order": {"id": "o-7"}})
    assert book.transition([EventArrived("paid", other)], Context(5.0)).results[0].duplicate
    assert book.transition([ApprovalDecided("paid", True, "local")], Context(5.0)).results[0].duplicate
    assert status(book) is S.WAITING


def test_a_root_wait_starts_on_the_next_claim_not_in_the_creation() -> None:
    book, first = RunBook.create(new_run(first_waits=True), Context(1.0, worker(8)))
    assert first.waits == [] and status(book) is S.READY
    claimed = book.transition([StepsDue()], Context(1.5, worker(8)))
    assert [w.step for w in claimed.waits] == ["paid"] and status(book) is S.WAITING


def test_keys_follow_json_equality_and_the_source() -> None:
    key = wait_key("p", "t", None, {"a.b": 1})
    assert wait_key("p", "t", None, {"a.b": 1.0}) == key
    assert wait_key("p", "t", None, {"a.b": True}) != key
    assert wait_key("q", "t", None, {"a.b": 1}) != key
    assert wait_key("p", "t", "/s", {"a.b": 1}) != key
    event = ArrivedEvent("e", "t", "/s", {"a": {"b": 1}, "c": 2})
    shapes = [("p", shape_of("t", ["a.b"])), ("p", shape_of("t", ["missing"]))]
    assert set(lookup_keys(event, shapes)) == {key, wait_key("p", "t", "/s", {"a.b": 1})}
    assert lookup_keys(ArrivedEvent("e", "t", "/s", "not an object"), shapes) == []
