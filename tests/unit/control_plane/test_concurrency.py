"""The concurrency rules of ``domain/concurrency.py``, without a store: a run's key from its inputs, who
starts at once, who starts from the queue and in what order, a queued run's creation and admission by the
planner, a retry of a keyed run queueing again, and what a transaction's plans did to the queues."""

from __future__ import annotations

import random
import time

import pytest

from knflow import Concurrency, action, workflow
from knflow_control_plane.domain import events as ev
from knflow_control_plane.domain.concurrency import (
    QueuedRun,
    admissions,
    carry,
    key_label,
    queue_changes,
    queue_key,
    run_concurrency,
    starts_now,
)
from knflow_control_plane.domain.model import Outcome, RunStatus, StepStatus, plan_run
from knflow_control_plane.domain.planner import plan, plan_creation
from knflow_control_plane.domain.records import NewRun, Worker
from knflow_control_plane.domain.transitions import (
    AttemptFinished,
    Context,
    Plan,
    RetryAsked,
    RunAdmitted,
    RunCancelled,
    RunState,
    RunTimedOut,
)
from knflow_control_plane.errors import InvalidRequest


@action
def first(customer: str) -> str:
    return customer


@action
def second(value: str) -> str:
    return value


@workflow
def chain(customer: str) -> object:
    return second(value=first(customer=customer))


W = Worker("w", 30.0, 10)


def new(*, queued: bool, run_id: str = "r1") -> NewRun:
    spec = chain.spec
    keyed = run_concurrency("default", "chain", Concurrency(key="inputs.customer"), {"customer": "acme"}, None)
    return NewRun(
        run_id, "default", "chain", spec.version, {"customer": "acme"}, plan_run(spec, spec.actions),
        concurrency=keyed, queued=queued,
    )  # fmt: skip


def context() -> Context:
    return Context(time.time(), W, random.Random(1))


def test_the_key_is_the_inputs_value_at_its_path_and_a_missing_one_is_refused_naming_it() -> None:
    spec = Concurrency(key="inputs.order.region", limit=3)
    made = run_concurrency("p", "wf", spec, {"order": {"region": "eu"}}, {"kind": "http", "priority": 7})
    assert made is not None and made.key == queue_key("p", "wf", "eu") and made.limit == 3 and made.priority == 7
    assert key_label(made.key) == "eu"
    number = run_concurrency("p", "wf", Concurrency(key="inputs.n"), {"n": 5}, None)
    assert number is not None and key_label(number.key) == "5" and number.priority == 0
    whole = run_concurrency("p", "wf", Concurrency(limit=2), {}, {"kind": "manual"})
    assert whole is not None and key_label(whole.key) is None  # one queue for every run of the workflow
    assert run_concurrency("p", "wf", None, {}, None) is None  # no concurrency: nothing to carry
    for inputs in ({"order": {"id": 1}}, {"order": None}, {"order": "eu"}, {}):
        with pytest.raises(InvalidRequest) as caught:
            run_concurrency("p", "wf", spec, inputs, None)
        assert caught.value.fields["field"] == "inputs.order.region"


def test_who_starts_at_once_and_who_starts_from_the_queue() -> None:
    assert starts_now(0, 0, 1) and starts_now(1, 0, 2)
    assert not starts_now(1, 0, 1) and not starts_now(0, 1, 1)  # nobody overtakes a run already waiting
    queue = [QueuedRun("a", 2), QueuedRun("b", 2), QueuedRun("c", 1), QueuedRun("d", 5)]
    assert admissions(0, queue) == ["a", "b"]
    assert admissions(1, queue) == ["a"]
    assert admissions(0, [QueuedRun("a", 3), QueuedRun("b", 3), QueuedRun("c", 1)]) == ["a", "b"]  # c waits
    assert admissions(3, queue) == []


def test_a_queued_run_is_created_with_nothing_ready_and_starts_when_admitted() -> None:
    state, created = plan_creation(new(queued=True), context())
    assert created.run_status is RunStatus.QUEUED and created.claims == []
    assert [e.type for e in created.events] == [ev.RUN_QUEUED]
    assert {s.status for s in state.steps.values()} == {StepStatus.PENDING} and state.concurrency_key is not None
    admitted = plan(state, [RunAdmitted()], context())
    assert isinstance(admitted, Plan) and admitted.run_status is RunStatus.RUNNING
    assert [c.step for c in admitted.claims] == ["first"] and admitted.run is not None
    assert [e.type for e in admitted.events] == [ev.RUN_STARTED, ev.STEP_STARTED]
    again = plan(state, [RunAdmitted(), RunAdmitted()], context())
    assert isinstance(again, Plan) and [r.duplicate for r in again.results] == [False, True]


def test_a_queued_run_is_cancelled_but_never_times_out_while_queued() -> None:
    state, _ = plan_creation(new(queued=True), context())
    cancelled = plan(state, [RunCancelled()], context())
    assert isinstance(cancelled, Plan) and cancelled.run_status is RunStatus.CANCELLED
    assert {s.status for s in cancelled.steps.values()} == {StepStatus.CANCELLED}
    timed_out = plan(state, [RunTimedOut()], context())
    assert isinstance(timed_out, Plan) and timed_out.run is None and timed_out.results[0].duplicate


def finished_run() -> RunState:
    state, created = plan_creation(new(queued=False), context())
    steps = {**state.steps, **created.steps}  # the run as its creation left it: "first" running
    started = RunState("r1", RunStatus.RUNNING, 2, state.inputs, None, None, steps, complete=True)
    done = plan(started, [AttemptFinished("first", "r1/first/1", Outcome.failed({"retryable": False}))], context())
    assert isinstance(done, Plan) and done.run_status is RunStatus.FAILED
    steps.update(done.steps)
    return RunState(
        "r1", RunStatus.FAILED, 2, state.inputs, None, None, steps, complete=True, concurrency_key=state.concurrency_key
    )


def test_a_retried_keyed_run_queues_again_with_nothing_ready() -> None:
    retried = plan(finished_run(), [RetryAsked()], context())
    assert isinstance(retried, Plan) and retried.run_status is RunStatus.QUEUED and retried.claims == []
    assert {s.status for s in retried.steps.values()} == {StepStatus.PENDING}
    assert [e.type for e in retried.events] == [ev.RUN_QUEUED]


def test_queue_changes_name_the_keys_a_transaction_freed_or_filled_and_carry_adds_the_admissions() -> None:
    state, created = plan_creation(new(queued=False), context())
    ended = plan(state, [RunCancelled()], context())
    assert isinstance(ended, Plan)
    changes = queue_changes({"r1": state}, [ended])
    assert changes is not None and changes.keys == {state.concurrency_key: "r1"} and changes.requeued == []
    assert queue_changes({"r1": state}, [created]) is None  # nothing left running nor entered a queue
    plain = RunState("r2", RunStatus.RUNNING, 1, {}, None, None, {})
    assert queue_changes({"r2": plain}, [Plan("r2", RunStatus.CANCELLED)]) is None  # no key: nothing to do
    retried = plan(finished_run(), [RetryAsked()], context())
    assert isinstance(retried, Plan)
    requeued = queue_changes({"r1": finished_run()}, [retried])
    assert requeued is not None and requeued.requeued == ["r1"]
    queued_state, _ = plan_creation(new(queued=True, run_id="r3"), context())
    admitted = plan(queued_state, [RunAdmitted()], context())
    assert isinstance(admitted, Plan)
    carried = carry(ended, [admitted])
    assert carried.claims == admitted.claims and carried.results[-1].claims == admitted.claims
    assert carried.events[-2:] == admitted.events[-2:] and carried.run_status is RunStatus.CANCELLED
