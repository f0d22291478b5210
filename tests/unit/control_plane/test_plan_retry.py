"""Which steps a retry runs again: from the failed ones, or from a chosen step and its downstream."""

from __future__ import annotations

import pytest

from knflow_control_plane.domain.model import RunStatus, TransitionError, plan_retry

#: a -> b -> d, a -> c -> d, and e alone.
STEPS = {
    "a": ("succeeded", []),
    "b": ("succeeded", ["a"]),
    "c": ("failed", ["a"]),
    "d": ("skipped", ["b", "c"]),
    "e": ("succeeded", []),
}


def test_a_plain_retry_runs_the_steps_that_did_not_succeed() -> None:
    assert plan_retry(RunStatus.FAILED, STEPS, None) == {"c", "d"}


def test_a_chosen_step_runs_again_with_everything_downstream_of_it() -> None:
    assert plan_retry(RunStatus.FAILED, STEPS, "b") == {"b", "c", "d"}
    assert plan_retry(RunStatus.CANCELLED, STEPS, "a") == {"a", "b", "c", "d"}


def test_a_succeeded_run_is_retried_only_from_a_chosen_step() -> None:
    done = {name: ("succeeded", up) for name, (_, up) in STEPS.items()}
    assert plan_retry(RunStatus.SUCCEEDED, done, "e") == {"e"}
    with pytest.raises(TransitionError, match="choose a step"):
        plan_retry(RunStatus.SUCCEEDED, done, None)


def test_a_running_run_or_an_unknown_step_is_refused() -> None:
    with pytest.raises(TransitionError, match="running to running"):
        plan_retry(RunStatus.RUNNING, STEPS, None)
    with pytest.raises(TransitionError, match="no step 'zz'"):
        plan_retry(RunStatus.FAILED, STEPS, "zz")
