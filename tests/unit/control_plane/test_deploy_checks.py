"""What a deploy says when an action differs where it runs, and which lines of a failed build it quotes."""

from __future__ import annotations

import json
from typing import Any

from knflow.spec import ActionSpec, ParamSpec
from knflow_control_plane.adapters.local.checks import load_failure
from knflow_control_plane.adapters.local.venv import useful_lines
from knflow_control_plane.service.functions import signature_mismatch


def registered(**inputs: dict[str, Any]) -> ActionSpec:
    params = {name: ParamSpec(type=schema) for name, schema in inputs.items()}
    return ActionSpec(name="greet", version="v1", entrypoint="flows:greet", inputs=params, output={"type": "string"})


def found(spec: ActionSpec, **changes: Any) -> dict[str, Any]:
    signature = spec.model_dump(mode="json")
    return {key: signature[key] for key in ("name", "version", "inputs", "output", "var_keyword", "is_async")} | changes


def test_the_same_signature_where_it_runs_passes() -> None:
    spec = registered(who={"type": "string"})
    assert signature_mismatch(spec, found(spec)) is None


def test_a_type_known_only_where_it_runs_is_named_with_what_to_do() -> None:
    traced = registered(who={})  # traced with a stand-in for the package's type
    there = found(traced, inputs={"who": {**traced.inputs["who"].model_dump(mode="json"), "type": {"type": "string"}}})

    message = signature_mismatch(traced, there)

    assert message is not None
    assert message.startswith("input 'who' is string where it runs but any as traced; annotate it with types")


def test_inputs_missing_on_either_side_and_another_output_are_named() -> None:
    spec = registered(who={"type": "string"})
    assert "takes no input 'who' where it runs" in str(signature_mismatch(spec, found(spec, inputs={})))
    extra = found(spec, inputs={**found(spec)["inputs"], "loud": {"type": {}, "required": True, "default": None}})
    assert "takes an input 'loud' where it runs" in str(signature_mismatch(spec, extra))
    assert "returns integer where it runs but string as traced" in str(
        signature_mismatch(spec, found(spec, output={"type": "integer"}))
    )


def test_a_failed_install_quotes_uvs_reason_not_its_progress() -> None:
    output = (
        "Using Python 3.11.7 environment at: .knflow/builds/venvs/x\n"
        "Resolved 3 packages in 12ms\n"
        "error: No solution found when resolving dependencies\n"
        "  cause: Because nope was not found in the package registry, your requirements are unsatisfiable.\n"
    )
    assert useful_lines(output) == (
        "  error: No solution found when resolving dependencies\n"
        "    cause: Because nope was not found in the package registry, your requirements are unsatisfiable."
    )
    assert useful_lines("a\nb\n") == "  a\n  b"  # no error line: the last lines
    assert useful_lines("") == "  (no output)"


def test_a_load_error_names_the_line_of_the_users_code_not_the_librarys() -> None:
    trace = (
        "Traceback (most recent call last):\n"
        '  File "/state/code/abc/flows.py", line 3, in <module>\n'
        '    json.loads("x")\n'
        f'  File "{json.__file__}", line 346, in loads\n'
        '  File "/state/venvs/x/lib/python3.11/site-packages/six.py", line 9, in f\n'
        "ValueError: nope\n"
    )
    report = {"type": "ValueError", "message": "cannot import module 'flows': ValueError: nope", "traceback": trace}
    output = f"printed while importing\n{trace}knflow-runtime: ...\nknflow-runtime load-error: {json.dumps(report)}\n"

    failure = load_failure(registered(), output)

    assert failure is not None
    assert (
        str(failure)
        == "action greet cannot be imported: cannot import module 'flows': ValueError: nope (flows.py, line 3)"
    )
    assert failure.fields["error_type"] == "ValueError" and failure.fields["traceback"] == trace
    assert failure.fields["logs"] == "printed while importing"  # the report itself is in the error already
    assert load_failure(registered(), "knflow-runtime signature: {}\n") is None
