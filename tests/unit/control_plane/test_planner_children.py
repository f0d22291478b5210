"""Sub-workflow steps in the run state machine: claimed like an action's step (an attempt, a claim that
carries the child's workflow and version), ended by the child run's outcome through the usual fencing: the
step succeeds once with the child's result (a dict's keys its outputs) or fails naming the child run; a
retry of the parent reuses a succeeded child's outputs and claims a failed one again."""

from __future__ import annotations

from knflow_control_plane.domain.children import child_outcome, not_started, pin_versions, raised_by_action, unpinned
from knflow_control_plane.domain.model import Outcome, PlannedStep, RetryPolicy, RunStatus, StepStatus
from knflow_control_plane.domain.records import NewRun
from knflow_control_plane.domain.transitions import AttemptFinished, Context, RetryAsked, RunCancelled, StepsDue

from .run_book import RunBook, worker

S = StepStatus
CHILD = {"kind": "workflow", "workflow": "thumb", "version": "0b5f3c2a1d9e"}


def new_run(wait: dict[str, object] | None = None) -> NewRun:
    """``fetch`` -> sub-workflow ``cover`` (runs ``thumb``) -> ``save``, the result ``save``'s."""
    steps = [
        PlannedStep("fetch", "work", "v1", {}, (), ("cover",), RetryPolicy()),
        PlannedStep(
            "cover", "", "", {"image": {"step": "fetch", "output": "url"}}, ("fetch",), ("save",), RetryPolicy(),
            wait=wait or CHILD,
        ),
        PlannedStep(
            "save", "work", "v1", {"thumb": {"step": "cover", "output": "small"}}, ("cover",), (), RetryPolicy()
        ),
    ]  # fmt: skip
    return NewRun("run-1", "default", "flow", "v1", {}, steps, {"step": "save"})


def fetched() -> RunBook:
    book, _ = RunBook.create(new_run(), Context(1.0, worker(8)))
    done = book.transition(
        [AttemptFinished("fetch", "run-1/fetch/1", Outcome.succeeded({"url": "u"}))], Context(2.0, worker(8))
    )
    [claim] = done.claims
    assert (claim.step, claim.attempt_id, claim.inputs, claim.child) == (
        "cover",
        "run-1/cover/1",
        {"image": "u"},
        CHILD,
    )
    assert book.run.steps["cover"].status is S.RUNNING
    return book


def test_the_childs_success_is_the_steps_with_its_result_as_outputs_once() -> None:
    book = fetched()
    ended = child_outcome("child-1", "thumb", "succeeded", {"small": "s"}, None)
    done = book.transition([AttemptFinished("cover", "run-1/cover/1", ended)], Context(3.0, worker(8)))
    assert done.outputs["cover"] == {"small": "s"} and [c.step for c in done.claims] == ["save"]
    assert done.claims[0].inputs == {"thumb": "s"} and done.claims[0].child is None
    again = book.transition([AttemptFinished("cover", "run-1/cover/1", ended)], Context(4.0, worker(8)))
    assert again.results[0].duplicate and again.steps == {}  # settled twice: recorded once


def test_a_failed_or_cancelled_child_fails_the_step_and_the_run_naming_it() -> None:
    for status, kind in (("failed", "ChildRunFailed"), ("cancelled", "ChildRunCancelled")):
        book = fetched()
        error = {"type": "ValueError", "message": "bad image", "step": "shrink"}
        ended = child_outcome("child-1", "thumb", status, None, error)
        done = book.transition([AttemptFinished("cover", "run-1/cover/1", ended)], Context(3.0, worker(8)))
        assert done.run_status is RunStatus.FAILED
        failed = book.run.steps["cover"].error
        assert failed is not None and failed["type"] == kind and failed["child_run_id"] == "child-1"
        assert failed["message"] == f"child run child-1 of workflow 'thumb' {status} at step 'shrink': bad image"
        assert failed["retryable"] is False and book.run.steps["save"].status is S.SKIPPED


def test_a_retry_of_the_parent_claims_a_failed_child_again_and_reuses_a_succeeded_one() -> None:
    book = fetched()
    failed = child_outcome("child-1", "thumb", "failed", None, {"message": "no"})
    book.transition([AttemptFinished("cover", "run-1/cover/1", failed)], Context(3.0, worker(8)))
    book.transition([RetryAsked(None)], Context(4.0))
    again = book.transition([StepsDue()], Context(5.0, worker(8)))
    assert [(c.attempt_id, c.child) for c in again.claims] == [("run-1/cover/2", CHILD)]  # a new child
    assert book.run.steps["fetch"].attempts == 1
    won = child_outcome("child-2", "thumb", "succeeded", {"small": "s"}, None)
    done = book.transition([AttemptFinished("cover", "run-1/cover/2", won)], Context(6.0, worker(8)))
    assert done.outputs["cover"] == {"small": "s"}
    save = done.claims[0]
    lost = Outcome.failed({"type": "KeyError", "message": "small", "retryable": False})
    book.transition([AttemptFinished("save", save.attempt_id, lost)], Context(7.0, worker(8)))
    book.transition([RetryAsked(None)], Context(8.0))
    last = book.transition([StepsDue()], Context(9.0, worker(8)))
    assert [c.step for c in last.claims] == ["save"] and book.run.steps["cover"].attempts == 2  # child reused


def test_a_childs_result_that_is_not_a_dict_is_output_result() -> None:
    assert child_outcome("child-1", "thumb", "succeeded", "tiny", None) == Outcome.succeeded({"result": "tiny"})


def test_a_cancelled_parent_abandons_the_step_and_a_late_child_end_changes_nothing() -> None:
    book = fetched()
    cancelled = book.transition([RunCancelled()], Context(3.0))
    assert cancelled.run_status is RunStatus.CANCELLED and book.run.steps["cover"].status is S.CANCELLED
    late = child_outcome("child-1", "thumb", "cancelled", None, {"message": "cancelled"})
    assert book.transition([AttemptFinished("cover", "run-1/cover/1", late)], Context(4.0)).results[0].duplicate


def test_a_child_that_cannot_start_fails_the_step_without_retry() -> None:
    book = fetched()
    refused = not_started("thumb", "workflow 'thumb' is not deployed")
    done = book.transition([AttemptFinished("cover", "run-1/cover/1", refused)], Context(3.0, worker(8)))
    error = book.run.steps["cover"].error
    assert done.run_status is RunStatus.FAILED and error is not None and error["type"] == "ChildRunNotStarted"


def test_a_run_pins_the_deployed_version_of_each_unpinned_child() -> None:
    loose = new_run({**CHILD, "version": None}).steps
    assert unpinned(loose) == ["thumb"] and unpinned(new_run().steps) == []
    pinned = pin_versions(loose, {"thumb": "8d1e4f7a2b6c"})
    assert pinned[1].wait == {**CHILD, "version": "8d1e4f7a2b6c"} and pinned[0] is loose[0]


def test_an_action_error_raised_in_a_child_at_any_depth_is_the_http_triggers_reply() -> None:
    raised = {"type": "ActionError", "message": "no such user", "code": 404}
    parent_sees = child_outcome("c1", "lookup", "failed", None, raised).error
    grandparent_sees = child_outcome("c0", "outer", "failed", None, parent_sees).error
    assert parent_sees is not None and grandparent_sees is not None
    assert raised_by_action(parent_sees) and raised_by_action(grandparent_sees) and grandparent_sees["code"] == 404
    crashed = child_outcome("c1", "lookup", "failed", None, {"type": "ValueError", "message": "x"}).error
    assert crashed is not None and not raised_by_action(crashed)
    cancelled = child_outcome("c1", "lookup", "cancelled", None, raised).error
    assert cancelled is not None and not raised_by_action(cancelled)  # a cancel is not the action's answer
