"""Validation of ``knflow.dev/v2`` specs written as YAML/JSON: each dynamic-flow field checked, each problem
named by its path."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knflow import SpecError
from knflow.spec import load_spec
from knflow.validation import dependencies, validate_workflow

ACTION = {"name": "a", "version": "abc", "entrypoint": "m:a", "inputs": {"x": {"type": {"type": "integer"}}}}
LISTS = {"name": "lists", "version": "abc", "entrypoint": "m:lists", "options": {"outputs": ["items"]}}


def spec(steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "api_version": "knflow.dev/v2",
        "name": "wf",
        "inputs": {"n": {"type": {"type": "integer"}}, "xs": {"type": {"type": "array"}}},
        "steps": steps,
        "actions": {"a": ACTION, "lists": LISTS},
        **extra,
    }


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as caught:
        validate_workflow(load_spec(data))
    return str(caught.value)


#: the v2 vocabulary, and a few of v1's, for the fuzzed specs below
_KEYS = [
    "action", "inputs", "map", "over", "max_parallel", "on_error", "when", "after", "workflow", "name", "version",
    "sleep", "seconds", "wait_for_event", "type", "match", "timeout", "approval", "prompt", "first_of", "step",
    "input", "value", "key", "limit",
]  # fmt: skip
LIST_STEP: dict[str, Any] = {"name": "l", "action": "lists"}


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            {"map": {"over": ["x"]}, "inputs": {"x": 3}},
            "steps.m.map.over: input 'x' is mapped: bind it to a workflow input or a step output",
        ),
        (
            {"map": {"over": ["x"]}, "inputs": {"x": {"input": "n"}}},
            "input 'x' is mapped over workflow input 'n', a integer",
        ),
        (
            {"map": {"over": ["y"]}, "inputs": {"x": {"input": "xs"}}},
            "steps.m.map.over: input 'y' is mapped but not given",
        ),
        (
            {"map": {"over": ["x"], "max_parallel": 0}, "inputs": {"x": {"input": "xs"}}},
            "steps.1.map.max_parallel: Input should be greater than or equal to 1",
        ),
        (
            {"map": {"over": ["x"], "max_parallel": 1001}, "inputs": {"x": {"input": "xs"}}},
            "less than or equal to 1000",
        ),
        ({"map": {"over": ["x", "x"]}, "inputs": {"x": {"input": "xs"}}}, "an input is mapped twice"),
        ({"map": {"over": []}, "inputs": {"x": {"input": "xs"}}}, "steps.1.map.over: List should have at least 1 item"),
        ({"map": {"over": ["x"], "on_error": "ignore"}, "inputs": {"x": {"input": "xs"}}}, "steps.1.map.on_error"),
    ],
)
def test_map_fields_are_checked(step: dict[str, Any], message: str) -> None:
    assert message in problems(spec([LIST_STEP, {"name": "m", "action": "a", **step}]))


def test_a_valid_map_binds_a_list_output_and_maps_an_array_input() -> None:
    validate_workflow(
        load_spec(
            spec(
                [
                    LIST_STEP,
                    {
                        "name": "m1",
                        "action": "a",
                        "inputs": {"x": {"step": "l", "output": "items"}},
                        "map": {"over": ["x"]},
                    },
                    {"name": "m2", "action": "a", "inputs": {"x": {"input": "xs"}}, "map": {"over": ["x"]}},
                    {"name": "after", "action": "a", "inputs": {"x": {"step": "m1", "output": "result"}}},
                ]
            )
        )
    )
    text = problems(
        spec(
            [
                LIST_STEP,
                {"name": "m", "action": "a", "inputs": {"x": {"input": "xs"}}, "map": {"over": ["x"]}},
                {"name": "after", "action": "a", "inputs": {"x": {"step": "m", "output": "items"}}},
            ]
        )
    )
    assert "steps.after.inputs.x: unknown output 'items' of step 'm' (declared: ['result'])" in text


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("inputs.n >", "steps.s.when: expected a value, a reference or '(', found the end (at column 11)"),
        ("steps.ghost.output.ok", "steps.s.when: steps.ghost.output.ok: unknown step 'ghost'"),
        ("inputs.ghost == 1", "steps.s.when: inputs.ghost: unknown workflow input 'ghost'"),
        ("steps.s.output.ok", "steps.s.when: steps.s.output.ok: a step's condition cannot read its own output"),
        ("inputs.n == " + "1 + " * 300, "steps.s.when: longer than 1000 characters"),
    ],
)
def test_when_is_parsed_and_its_references_checked_at_registration(when: str, message: str) -> None:
    assert message in problems(spec([LIST_STEP, {"name": "s", "action": "a", "inputs": {"x": 1}, "when": when}]))


def test_a_condition_and_after_make_edges() -> None:
    loaded = load_spec(
        spec(
            [
                LIST_STEP,
                {"name": "s", "action": "a", "inputs": {"x": 1}, "when": "steps.l.output.items != []"},
                {"name": "t", "action": "a", "inputs": {"x": 1}, "after": ["s"]},
                {"name": "w", "wait_for_event": {"type": "t", "match": {"k": {"step": "t"}}}},
            ]
        )
    )
    assert dependencies(loaded) == {"l": set(), "s": {"l"}, "t": {"s"}, "w": {"t"}}
    cycle = spec(
        [
            {"name": "s", "action": "a", "inputs": {"x": 1}, "after": ["t"]},
            {"name": "t", "action": "a", "inputs": {"x": 1}, "when": "steps.s.output.ok"},
        ]
    )
    assert "cycle" in problems(cycle)
    assert "steps.s.after: unknown step 'nope'" in problems(
        spec([{"name": "s", "action": "a", "inputs": {"x": 1}, "after": ["nope"]}])
    )


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"sleep": {"seconds": 0}}, "steps.0.sleep.seconds: Input should be greater than 0"),
        ({"sleep": {"seconds": 10**9}}, "steps.0.sleep.seconds: Input should be less than or equal to"),
        ({"wait_for_event": {"type": ""}}, "steps.0.wait_for_event.type"),
        (
            {"wait_for_event": {"type": "t", "match": {"a..b": 1}}},
            "match keys are dotted data paths like 'order.id', got 'a..b'",
        ),
        (
            {"wait_for_event": {"type": "t", "match": {"k": {"step": "ghost"}}}},
            "steps.s.wait_for_event.match.k: unknown step 'ghost'",
        ),
        ({"wait_for_event": {"type": "t", "timeout": -1}}, "steps.0.wait_for_event.timeout"),
        ({"approval": {"prompt": ""}}, "steps.0.approval.prompt"),
        ({"workflow": {"name": "child", "version": "latest"}}, "steps.0.workflow.version"),
        ({"workflow": {"name": "child"}, "inputs": {"x": {"step": "ghost"}}}, "steps.s.inputs.x: unknown step 'ghost'"),
        (
            {"action": "a", "sleep": {"seconds": 1}},
            "a step has exactly one of action, workflow, sleep, wait_for_event, approval",
        ),
        ({"approval": {"prompt": "ok?"}, "inputs": {"x": 1}}, "steps.0.inputs: a approval step takes no inputs"),
    ],
)
def test_timers_waits_approvals_and_sub_workflows_are_checked(step: dict[str, Any], message: str) -> None:
    assert message in problems(spec([{"name": "s", **step}]))


@pytest.mark.parametrize(
    ("concurrency", "message"),
    [
        ({"key": "customer"}, "a concurrency key is a path into the inputs like 'inputs.customer'"),
        ({"key": "inputs.ghost"}, "concurrency.key: unknown workflow input 'ghost'"),
        ({"limit": 0}, "concurrency.limit"),
    ],
)
def test_concurrency_keys_name_an_input(concurrency: dict[str, Any], message: str) -> None:
    steps = [{"name": "s", "action": "a", "inputs": {"x": 1}}]
    assert message in problems(spec(steps, concurrency=concurrency))


def test_first_of_needs_two_options_and_checks_each() -> None:
    steps: list[dict[str, Any]] = [
        LIST_STEP,
        {"name": "s", "action": "a", "inputs": {"x": {"first_of": [{"step": "ghost"}, 1]}}},
    ]
    assert "unknown step 'ghost'" in problems(spec(steps))
    one = [{"name": "s", "action": "a", "inputs": {"x": {"first_of": [1]}}}]
    assert "List should have at least 2 items" in problems(spec(one))


_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from(["x", "l", "s", "inputs.n", "", "a..b"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=3)),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=5), max_size=3), _VALUES)
def test_any_v2_shaped_spec_is_refused_with_spec_error_only(steps: list[dict[str, Any]], extra: Any) -> None:
    # whatever the shape, reading and checking it raises SpecError naming fields, never another exception
    data = spec([{"name": f"s{i}", **step} for i, step in enumerate(steps)], concurrency=extra)
    with contextlib.suppress(SpecError):
        validate_workflow(load_spec(data))


_TEMPLATES: list[dict[str, Any]] = [
    {"action": "a", "inputs": {"x": {"step": "l", "output": "items"}}, "map": {"over": ["x"], "max_parallel": 2}},
    {"action": "a", "inputs": {"x": 1}, "when": "steps.l.output.items != [] and inputs.n > 1", "after": ["l"]},
    {"action": "a", "inputs": {"x": {"first_of": [{"step": "l"}, 1]}}},
    {"workflow": {"name": "child", "version": "0123456789ab"}, "inputs": {"k": {"input": "n"}}},
    {"sleep": {"seconds": 5}},
    {"wait_for_event": {"type": "t", "match": {"a.b": {"input": "n"}}, "timeout": 9}},
    {"approval": {"prompt": "ok?", "timeout": 60}},
]


def _mutate(template: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(template))
    node = copy
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            break
        node = node[key]
    node[path[-1]] = value
    return copy  # type: ignore[no-any-return]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_TEMPLATES), st.lists(st.sampled_from(_KEYS), min_size=1, max_size=3), _VALUES)
def test_a_v2_step_with_any_field_changed_is_refused_with_spec_error_only(
    template: dict[str, Any], path: list[str], value: Any
) -> None:
    data = spec([LIST_STEP, {"name": "s", **_mutate(template, path, value)}])
    with contextlib.suppress(SpecError):
        validate_workflow(load_spec(data))
