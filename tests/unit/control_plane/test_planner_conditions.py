"""Conditions and skips in the run state machine: a step whose ``when`` is false, or that reads a step that
did not run (outside ``first_of``), is skipped when it would start, and releases its dependents as a
success does; a condition that cannot be evaluated fails the step. Examples, then random DAGs."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knflow_control_plane.domain import events as ev
from knflow_control_plane.domain.model import Outcome, PlannedStep, RetryPolicy, RunStatus, StepStatus
from knflow_control_plane.domain.records import NewRun
from knflow_control_plane.domain.transitions import AttemptFinished, Context, RetryAsked, StepsDue

from .run_book import RunBook, worker

S = StepStatus


def new_run(steps: dict[str, tuple[dict[str, Any], str | None]], result: dict[str, Any] | None = None) -> NewRun:
    """A run of ``steps`` (name: (bindings, when)), upstream read from the bindings and the conditions."""
    from knflow.bindings import upstream
    from knflow.conditions import steps_read

    ups = {
        name: sorted({u for b in bindings.values() for u in upstream(b)} | (steps_read(when) if when else set()))
        for name, (bindings, when) in steps.items()
    }
    downs = {name: sorted(n for n, u in ups.items() if name in u) for name in steps}
    planned = [
        PlannedStep(name, "work", "v1", bindings, tuple(ups[name]), tuple(downs[name]), RetryPolicy(), when=when)
        for name, (bindings, when) in steps.items()
    ]
    return NewRun("run-1", "default", "flow", "v1", {"go": True, "n": 3}, planned, result)


def succeed(book: RunBook, step: str, outputs: dict[str, Any], now: float = 2.0) -> None:
    attempt = f"run-1/{step}/{book.run.steps[step].attempts}"
    book.transition([AttemptFinished(step, attempt, Outcome.succeeded(outputs))], Context(now, worker(8)))


def statuses(book: RunBook) -> dict[str, StepStatus]:
    return {name: step.status for name, step in book.run.steps.items()}


BRANCHES: dict[str, tuple[dict[str, Any], str | None]] = {
    "a": ({"x": {"input": "n"}}, None),
    "yes": ({"x": {"step": "a", "output": "v"}}, "steps.a.output.v == 1"),
    "no": ({"x": {"step": "a", "output": "v"}}, "steps.a.output.v != 1"),
    "join": ({"x": {"first_of": [{"step": "yes", "output": "v"}, {"step": "no", "output": "v"}]}}, None),
    "after_no": ({"x": {"step": "no", "output": "v"}}, None),
}


def test_a_false_branch_is_skipped_its_readers_too_and_first_of_takes_the_other() -> None:
    book, first = RunBook.create(new_run(BRANCHES, {"step": "join", "output": "v"}), Context(1.0, worker(8)))
    assert [c.step for c in first.claims] == ["a"]
    succeed(book, "a", {"v": 1})
    assert statuses(book) == {
        "a": S.SUCCEEDED,
        "yes": S.RUNNING,
        "no": S.SKIPPED,
        "join": S.PENDING,
        "after_no": S.SKIPPED,
    }
    skipped = [(e.step, e.data["reason"]) for e in book.events if e.type == ev.STEP_SKIPPED]
    assert skipped == [("no", "when is false: steps.a.output.v != 1"), ("after_no", "inputs.x reads skipped step 'no'")]
    assert book.run.remaining == 2
    succeed(book, "yes", {"v": "from yes"})
    join = book.run.steps["join"]
    assert join.status is S.RUNNING
    assert book.attempts == {f"run-1/{n}/1": "succeeded" for n in ("a", "yes")} | {"run-1/join/1": "running"}
    succeed(book, "join", {"v": "joined"})
    assert (book.run.status, book.result, book.run.remaining) == (RunStatus.SUCCEEDED, "joined", 0)


def test_a_root_condition_on_the_inputs_and_a_whole_chain_skipped_without_recursion() -> None:
    steps: dict[str, tuple[dict[str, Any], str | None]] = {"root": ({}, "not inputs.go")}
    for index in range(3000):  # deeper than Python's recursion limit
        steps[f"c{index}"] = ({"x": {"step": f"c{index - 1}" if index else "root"}}, None)
    book, first = RunBook.create(new_run(steps), Context(1.0, worker(8)))
    assert first.claims == [] and set(statuses(book).values()) == {S.SKIPPED}
    assert (book.run.status, book.run.remaining) == (RunStatus.SUCCEEDED, 0)


def test_a_condition_that_cannot_be_evaluated_fails_the_step_and_the_run() -> None:
    steps: dict[str, tuple[dict[str, Any], str | None]] = {"a": ({}, None), "b": ({}, "steps.a.output.missing == 1")}
    book, _ = RunBook.create(new_run(steps), Context(1.0, worker(8)))
    succeed(book, "a", {"v": 1})
    assert book.run.steps["b"].status is S.FAILED and book.run.status is RunStatus.FAILED
    assert book.error is not None and book.error["type"] == "ConditionError" and book.error["retryable"] is False
    assert "steps.b.when: steps.a.output.missing: no field 'missing'" in book.error["message"]


def test_a_retry_decides_skipped_steps_again() -> None:
    steps: dict[str, tuple[dict[str, Any], str | None]] = {
        "a": ({}, None),
        "b": ({"x": {"step": "a"}}, "steps.a.output.v == 2"),
        "c": ({}, "steps.a.output.bad > 0"),
    }
    book, _ = RunBook.create(new_run(steps), Context(1.0, worker(8)))
    succeed(book, "a", {"v": 1})
    assert statuses(book) == {"a": S.SUCCEEDED, "b": S.SKIPPED, "c": S.FAILED}
    book.transition([RetryAsked("a"), StepsDue()], Context(3.0, worker(8)))
    succeed(book, "a", {"v": 2, "bad": 1}, now=4.0)
    assert statuses(book) == {"a": S.SUCCEEDED, "b": S.RUNNING, "c": S.RUNNING}


@st.composite
def conditional_dags(draw: st.DrawFn) -> dict[str, tuple[dict[str, Any], str | None]]:
    """Up to 8 steps; each reads some earlier ones (maybe through first_of) and may have a condition on one."""
    count = draw(st.integers(1, 8))
    steps: dict[str, tuple[dict[str, Any], str | None]] = {}
    for index in range(count):
        earlier = [f"s{i}" for i in range(index)]
        reads = sorted(draw(st.sets(st.sampled_from(earlier), max_size=3))) if earlier else []
        bindings: dict[str, Any] = {f"x_{up}": {"step": up, "output": "v"} for up in reads}
        if len(reads) >= 2 and draw(st.booleans()):
            bindings = {"x": {"first_of": [{"step": up, "output": "v"} for up in reads]}}
        when: str | None = None
        if draw(st.booleans()):
            on_a_step: bool = bool(earlier) and draw(st.booleans())
            when = f"steps.{draw(st.sampled_from(earlier))}.output.v == 1" if on_a_step else "inputs.n > 2"
        steps[f"s{index}"] = (bindings, when)
    return steps


def expected(steps: dict[str, tuple[dict[str, Any], str | None]], values: dict[str, int]) -> dict[str, StepStatus]:
    """What each step ends as, worked out directly from the rules in code order."""
    from knflow.bindings import skipped_read
    from knflow.conditions import holds, steps_read

    skipped: set[str] = set()
    outputs: dict[str, dict[str, Any]] = {}
    for name, (bindings, when) in steps.items():
        reads_skipped = any(skipped_read(b, skipped) for b in bindings.values())
        if reads_skipped or (when and (steps_read(when) & skipped or not holds(when, {"go": True, "n": 3}, outputs))):
            skipped.add(name)
        else:
            outputs[name] = {"v": values[name]}
    return {name: S.SKIPPED if name in skipped else S.SUCCEEDED for name in steps}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=conditional_dags(), data=st.data())
def test_random_conditional_dags_end_as_the_rules_say(
    steps: dict[str, tuple[dict[str, Any], str | None]], data: st.DataObject
) -> None:
    values = {name: data.draw(st.integers(0, 1), label=f"{name} returns") for name in steps}
    partial = data.draw(st.booleans(), label="partial loads")
    capacity = data.draw(st.integers(1, 3), label="capacity")
    book, _ = RunBook.create(new_run(steps), Context(1.0, worker(capacity)), partial=partial)
    now = 1.0
    while book.run.status is RunStatus.RUNNING:
        now += 1.0
        running = sorted(n for n, s in book.run.steps.items() if s.status is S.RUNNING)
        if not running:  # ready steps beyond the worker's room: the orchestrator's timer claims them
            assert S.READY in statuses(book).values(), f"a running run with nothing to run: {statuses(book)}"
            book.transition([StepsDue()], Context(now, worker(capacity)))
            continue
        pick = data.draw(st.sampled_from(running), label="finishes")
        succeed(book, pick, {"v": values[pick]}, now=now)
        for step in book.run.steps.values():
            if step.status in (S.READY, S.RUNNING):  # nothing starts before what it waits for is done
                assert all(book.run.steps[up].status in (S.SUCCEEDED, S.SKIPPED) for up in step.upstream or ())
        done = sum(s.status in (S.SUCCEEDED, S.SKIPPED) for s in book.run.steps.values())
        assert book.run.remaining == len(steps) - done or book.run.status is not RunStatus.RUNNING
    assert book.run.status is RunStatus.SUCCEEDED
    assert statuses(book) == expected(steps, values)
    successes = [a.split("/")[1] for a, status in book.attempts.items() if status == "succeeded"]
    assert sorted(successes) == sorted(n for n, s in expected(steps, values).items() if s is S.SUCCEEDED)
