"""Resolving bindings to values when a step is about to run (shared by local runs and the control plane)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from typing import Any

from ._errors import KnflowError


class BindingError(KnflowError, LookupError):
    """A binding points at something that did not come to exist (e.g. an output the step did not return).

    Attributes:
        path: where the binding is, e.g. ``steps.resize.inputs.image``.
    """

    def __init__(self, message: str, *, path: str):
        self.path = path
        super().__init__(f"{path}: {message}")


def resolve(
    binding: Mapping[str, Any], inputs: Mapping[str, Any], outputs: Mapping[str, Mapping[str, Any]], path: str
) -> Any:
    """The value of a binding (spec form) given the workflow inputs and the outputs of finished steps.

    Raises:
        BindingError: when it refers to a missing input, step or output.
    """
    if "value" in binding:
        return binding["value"]
    if "input" in binding:
        name = binding["input"]
        if name not in inputs:
            raise BindingError(f"workflow input {name!r} was not given", path=path)
        return inputs[name]
    if "step" in binding:
        step, output = binding["step"], binding.get("output")
        if step not in outputs:
            raise BindingError(f"step {step!r} has no outputs", path=path)
        if output is None:
            return dict(outputs[step])
        if output not in outputs[step]:
            raise BindingError(
                f"step {step!r} returned no output {output!r} (it returned {sorted(outputs[step])})", path=path
            )
        return outputs[step][output]
    if "object" in binding:
        return {key: resolve(item, inputs, outputs, f"{path}.{key}") for key, item in binding["object"].items()}
    if "array" in binding:
        return [resolve(item, inputs, outputs, f"{path}[{i}]") for i, item in enumerate(binding["array"])]
    if "first_of" in binding:
        for index, option in enumerate(binding["first_of"]):
            if all(step in outputs for step in upstream(option)):
                return resolve(option, inputs, outputs, f"{path}.first_of[{index}]")
        raise BindingError("none of the steps of first_of ran", path=path)
    raise BindingError(f"not a binding: {dict(binding)!r}", path=path)


def upstream(binding: Mapping[str, Any]) -> Iterator[str]:
    """Names of the steps a binding reads from."""
    if "step" in binding:
        yield binding["step"]
    elif "object" in binding:
        for item in binding["object"].values():
            yield from upstream(item)
    elif "array" in binding or "first_of" in binding:
        for item in binding["array"] if "array" in binding else binding["first_of"]:
            yield from upstream(item)


def workflow_inputs_used(binding: Mapping[str, Any]) -> Iterator[str]:
    """Names of the workflow inputs a binding reads."""
    if "input" in binding:
        yield binding["input"]
    elif "object" in binding:
        for item in binding["object"].values():
            yield from workflow_inputs_used(item)
    elif "array" in binding or "first_of" in binding:
        for item in binding["array"] if "array" in binding else binding["first_of"]:
            yield from workflow_inputs_used(item)


def uses_first_of(binding: Mapping[str, Any]) -> bool:
    """Whether a binding has a ``first_of`` anywhere in it."""
    if "first_of" in binding:
        return True
    if "object" in binding:
        return any(uses_first_of(item) for item in binding["object"].values())
    return "array" in binding and any(uses_first_of(item) for item in binding["array"])


def skipped_read(binding: Mapping[str, Any], skipped: Collection[str]) -> str | None:
    """The skipped step (one that did not run, its ``when`` false) a binding cannot do without, or None
    when it binds: a step read outside ``first_of``, or a ``first_of`` none of whose options ran."""
    if "first_of" in binding:
        options = [skipped_read(option, skipped) for option in binding["first_of"]]
        return None if any(found is None for found in options) else options[0]
    if "object" in binding or "array" in binding:
        items = binding["object"].values() if "object" in binding else binding["array"]
        return next((found for item in items if (found := skipped_read(item, skipped)) is not None), None)
    return next((name for name in upstream(binding) if name in skipped), None)
