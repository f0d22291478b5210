"""The domain's side of dynamic flows: the one gate refusing what the engine does not run yet, and the
run/skip/fail decision of a step's ``when``."""

from __future__ import annotations

from typing import Any

import pytest

from knflow import SpecError
from knflow.spec import load_spec
from knflow_control_plane.domain.conditions import Verdict, decide_release, decide_when
from knflow_control_plane.domain.flows import NOT_RUN_YET, not_run_yet, refuse_not_run_yet

ACTION = {"name": "a", "version": "abc", "entrypoint": "m:a", "options": {"max_concurrency": 2}}


#: the gate before the engine ran any dynamic-flow feature (conditions, ``after``, ``first_of``, approvals,
#: sleeps, event waits, concurrency keys, priorities, max_concurrency, sub-workflows and maps now run)
RUN_NOW = {
    "when",
    "after",
    "first_of",
    "approval",
    "sleep",
    "wait_for_event",
    "concurrency",
    "priority",
    "max_concurrency",
    "workflow",
    "map",
}
EVERY_FEATURE = NOT_RUN_YET | RUN_NOW


def v2(steps: list[dict[str, Any]], **extra: Any) -> Any:
    return load_spec({"api_version": "knflow.dev/v2", "name": "wf", "steps": steps, "actions": {"a": ACTION}, **extra})


def test_every_feature_in_use_is_named_with_its_field() -> None:
    spec = v2(
        [
            {"name": "l", "action": "a"},
            {"name": "m", "action": "a", "inputs": {"x": {"step": "l"}}, "map": {"over": ["x"]}, "when": "true"},
            {"name": "c", "workflow": {"name": "child"}, "after": ["m"]},
            {"name": "s", "sleep": {"seconds": 5}},
            {"name": "w", "wait_for_event": {"type": "t"}},
            {"name": "ok", "approval": {"prompt": "?"}},
            {"name": "f", "action": "a", "inputs": {"x": {"first_of": [{"step": "l"}, 1]}}},
        ],
        inputs={"k": {}},
        concurrency={"key": "inputs.k"},
        triggers=[{"kind": "http", "path": "/p", "priority": 3}],
    )
    found = not_run_yet(spec, refused=EVERY_FEATURE)
    assert [path for path, _ in found] == [
        "concurrency",
        "steps.m.map",
        "steps.m.when",
        "steps.c.workflow",
        "steps.c.after",
        "steps.s.sleep",
        "steps.w.wait_for_event",
        "steps.ok.approval",
        "steps.f.inputs.x",
        "actions.a.options.max_concurrency",
        "triggers.0.priority",
    ]
    assert found[2] == ("steps.m.when", "not supported by this control plane yet: when")
    with pytest.raises(SpecError) as caught:
        refuse_not_run_yet(spec, refused=EVERY_FEATURE)
    assert caught.value.path == "concurrency" and len(caught.value.problems) == 11
    assert not_run_yet(spec) == []


def test_the_gate_lets_through_what_the_engine_runs() -> None:
    spec = v2([{"name": "l", "action": "a"}, {"name": "g", "action": "a", "when": "steps.l.output.ok"}])
    refuse_not_run_yet(spec)
    assert not RUN_NOW & NOT_RUN_YET
    plain = load_spec(
        {"name": "wf", "steps": [{"name": "l", "action": "a"}], "actions": {"a": {**ACTION, "options": {}}}}
    )
    assert not_run_yet(plain) == []


@pytest.mark.parametrize(
    ("when", "skipped", "verdict", "reason"),
    [
        (None, (), Verdict.RUN, ""),
        ("steps.check.output.ok", (), Verdict.RUN, ""),
        ("inputs.n > 5", (), Verdict.SKIP, "when is false: inputs.n > 5"),
        ("steps.other.output.ok or true", ("other",), Verdict.SKIP, "when reads skipped step 'other'"),
        ("steps.check.output.missing", (), Verdict.FAIL, "when: steps.check.output.missing: no field 'missing'"),
        ("inputs.n", (), Verdict.FAIL, "when: a condition must be true or false, got 3"),
        ("inputs.n ==", (), Verdict.FAIL, "when: expected a value"),
    ],
)
def test_decide_when(when: str | None, skipped: tuple[str, ...], verdict: Verdict, reason: str) -> None:
    decision = decide_when(when, {"n": 3}, {"check": {"ok": True}}, skipped)
    assert decision.verdict is verdict
    assert decision.reason.startswith(reason)


@pytest.mark.parametrize(
    ("bindings", "when", "verdict", "reason"),
    [
        ({"x": {"step": "a"}}, None, Verdict.RUN, ""),
        ({"x": {"step": "b", "output": "v"}}, None, Verdict.SKIP, "inputs.x reads skipped step 'b'"),
        ({"x": {"array": [{"value": 1}, {"object": {"k": {"step": "b"}}}]}}, None, Verdict.SKIP, "inputs.x reads"),
        ({"x": {"first_of": [{"step": "b"}, {"step": "a"}]}}, None, Verdict.RUN, ""),
        ({"x": {"first_of": [{"step": "b"}, {"value": None}]}}, None, Verdict.RUN, ""),  # the default
        ({"x": {"first_of": [{"step": "b"}, {"step": "c"}]}}, None, Verdict.SKIP, "inputs.x reads skipped step 'b'"),
        ({"x": {"input": "n"}}, "steps.b.output.ok", Verdict.SKIP, "when reads skipped step 'b'"),
        ({"x": {"input": "n"}}, "steps.a.output.ok and inputs.n == 3", Verdict.RUN, ""),
    ],
)
def test_decide_release_skips_what_reads_a_branch_that_did_not_run(
    bindings: dict[str, Any], when: str | None, verdict: Verdict, reason: str
) -> None:
    decision = decide_release(when, bindings, {"n": 3}, {"a": {"ok": True}}, {"b", "c"})
    assert decision.verdict is verdict
    assert decision.reason.startswith(reason)
