"""The run domain's rules, without a database."""

from __future__ import annotations

import random

import pytest

from knflow import action, workflow
from knflow_control_plane.domain.model import (
    MAX_INFRA_RETRIES,
    Outcome,
    RetryPolicy,
    RunStatus,
    StepCounters,
    StepStatus,
    TransitionError,
    check_run_transition,
    check_step_transition,
    decide_after_failure,
    plan_run,
)


@action(retries=2)
def work(x: int) -> int:
    return x


@workflow
def diamond(x: int) -> object:
    a = work.named("a")(x=x)
    b = work.named("b")(x=a)
    c = work.named("c")(x=a)
    return work.named("d")(x=[b, c])


def test_plan_knows_upstream_and_dependents() -> None:
    steps = {s.name: s for s in plan_run(diamond.spec, diamond.spec.actions)}
    assert steps["a"].upstream == () and steps["a"].dependents == ("b", "c")
    assert steps["d"].upstream == ("b", "c") and steps["d"].waiting_on == 2
    assert steps["b"].policy.retries == 2


def test_allowed_and_refused_transitions() -> None:
    check_step_transition(StepStatus.RUNNING, StepStatus.READY)  # a retry
    check_run_transition(RunStatus.FAILED, RunStatus.RUNNING)  # retry from failure
    with pytest.raises(TransitionError):
        check_step_transition(StepStatus.SUCCEEDED, StepStatus.RUNNING)
    with pytest.raises(TransitionError):
        check_run_transition(RunStatus.SUCCEEDED, RunStatus.FAILED)


def test_retryable_errors_are_retried_until_the_budget_is_spent() -> None:
    policy, rng = RetryPolicy(retries=2, backoff=1.0, backoff_max=10.0), random.Random(1)
    error = Outcome.failed({"type": "ConnectionError", "message": "down", "retryable": True})
    assert decide_after_failure(error, StepCounters(1, 0), policy, rng).status is StepStatus.READY
    assert decide_after_failure(error, StepCounters(2, 0), policy, rng).status is StepStatus.READY
    assert decide_after_failure(error, StepCounters(3, 0), policy, rng).status is StepStatus.FAILED


def test_action_errors_are_not_retried() -> None:
    error = Outcome.failed({"type": "ActionError", "code": 404, "message": "no", "retryable": False})
    decision = decide_after_failure(error, StepCounters(1, 0), RetryPolicy(retries=5), random.Random(0))
    assert decision.status is StepStatus.FAILED


def test_lost_attempts_do_not_use_the_actions_retries_but_are_bounded() -> None:
    policy = RetryPolicy(retries=0)
    lost = Outcome.lost("worker died")
    assert decide_after_failure(lost, StepCounters(1, 0), policy, random.Random(0)).infra
    assert decide_after_failure(lost, StepCounters(1, MAX_INFRA_RETRIES), policy, random.Random(0)).status is (
        StepStatus.FAILED
    )


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    policy, rng = RetryPolicy(retries=10, backoff=0.5, backoff_max=4.0), random.Random(7)
    for index in range(10):
        ceiling = min(4.0, 0.5 * 2**index)
        delays = [policy.delay(index, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # jitter covers the range
