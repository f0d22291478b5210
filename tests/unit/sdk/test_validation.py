"""Validation of specs written as YAML, and the loader's robustness (fuzzed)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from knflow import SpecError
from knflow.spec import load_spec
from knflow.validation import topological_order, validate_workflow

ACTION = {"name": "a", "version": "abc", "entrypoint": "m:a", "inputs": {"x": {"type": {"type": "integer"}}}}


def spec(steps: list[dict[str, Any]], **extra: object) -> dict[str, Any]:
    return {
        "name": "wf",
        "inputs": {"n": {"type": {"type": "integer"}}},
        "steps": steps,
        "actions": {"a": ACTION},
        **extra,
    }


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as caught:
        validate_workflow(load_spec(data))
    return str(caught.value)


def test_a_cycle_is_named() -> None:
    text = problems(
        spec(
            [
                {"name": "s1", "action": "a", "inputs": {"x": {"step": "s2"}}},
                {"name": "s2", "action": "a", "inputs": {"x": {"step": "s1"}}},
            ]
        )
    )
    assert "cycle: s1 -> s2 -> s1" in text


def test_unknown_action_step_input_and_duplicate_names() -> None:
    text = problems(
        spec(
            [
                {"name": "s1", "action": "nope", "inputs": {}},
                {"name": "s2", "action": "a", "inputs": {"x": {"step": "ghost"}}},
                {"name": "s2", "action": "a", "inputs": {"x": {"input": "missing"}}},
            ]
        )
    )
    assert "steps.s1.action: unknown action 'nope'" in text
    assert "unknown step 'ghost'" in text
    assert "steps.s2: duplicate step name" in text
    assert "unknown workflow input 'missing'" in text


def test_wrong_constant_and_input_types() -> None:
    text = problems(spec([{"name": "s1", "action": "a", "inputs": {"x": "text"}}]))
    assert "steps.s1.inputs.x: wrong type: expected integer, got string" in text
    data = spec([{"name": "s1", "action": "a", "inputs": {"x": {"input": "n"}}}])
    data["inputs"]["n"] = {"type": {"type": "string"}}
    assert "workflow input 'n' is string, the action expects integer" in problems(data)


def test_a_valid_yaml_spec_loads_and_orders() -> None:
    text = yaml.safe_dump(
        spec(
            [
                {"name": "b", "action": "a", "inputs": {"x": {"step": "a1", "output": "y"}}},
                {"name": "a1", "action": "a", "inputs": {"x": 1}},
            ]
        )
    )
    loaded = load_spec(text)
    validate_workflow(loaded)
    assert topological_order(loaded) == ["a1", "b"]


def test_malformed_documents_give_spec_errors() -> None:
    for text in ["", "[1, 2]", "name: [", "name: 3", "{name: wf, steps: 7}", "name: wf\nsteps: [{action: 1}]"]:
        with pytest.raises(SpecError):
            load_spec(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
spec_like = st.fixed_dictionaries(
    {
        "name": st.text(max_size=10),
        "steps": st.lists(
            st.dictionaries(st.sampled_from(["name", "action", "inputs"]), json_values, max_size=3), max_size=3
        ),
    },
    optional={"inputs": json_values, "result": json_values, "triggers": json_values, "actions": json_values},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200), spec_like.map(yaml.safe_dump)))
def test_fuzzed_yaml_gives_a_spec_or_a_spec_error(document: str | bytes) -> None:
    try:
        result = load_spec(document)
    except SpecError:
        return
    assert result.name


@settings(max_examples=200, deadline=None)
@given(spec_like)
def test_fuzzed_specs_validate_or_give_a_spec_error(data: dict[str, Any]) -> None:
    with contextlib.suppress(SpecError):
        validate_workflow(load_spec(data))
