"""Whether a step with a ``when`` condition runs: the decision the engine takes when a step's upstream
steps have finished. No I/O, no ``eval``.

The grammar itself (tokenizer, parser into an AST, evaluator over plain dicts) is
:mod:`knflow.conditions`, part of the spec contract: the SDK checks conditions when it traces a workflow
and runs them in-process, registration checks them here (:mod:`knflow.validation`), and both must read a
condition the same way, so there is one implementation, in the package both import.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from knflow.bindings import skipped_read
from knflow.conditions import ConditionError, Expr, evaluate, parse, references

__all__ = [
    "ConditionError",
    "Expr",
    "Verdict",
    "WhenDecision",
    "decide_release",
    "decide_when",
    "evaluate",
    "parse",
    "references",
]


class Verdict(str, Enum):
    """What happens to a step once its upstream steps have finished."""

    RUN = "run"
    SKIP = "skip"  # its condition is false, or it reads a step that was skipped
    FAIL = "fail"  # its condition cannot be evaluated (a field absent, operands of the wrong types)


@dataclass(frozen=True)
class WhenDecision:
    """A verdict and, for SKIP and FAIL, why (recorded with the step)."""

    verdict: Verdict
    reason: str = ""


def decide_when(
    when: str | None,
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Mapping[str, Any]],
    skipped: Collection[str] = (),
) -> WhenDecision:
    """Run, skip or fail a step whose condition is ``when``, given the run's inputs, the outputs of the
    steps that succeeded and the names of the steps that were skipped.

    A condition reading a skipped step skips the step (its branch did not run); one that does not hold
    skips it; one that cannot be evaluated, or whose value is not a boolean, fails it.
    """
    if when is None:
        return WhenDecision(Verdict.RUN)
    try:
        expr = parse(when)
    except ConditionError as exc:  # registration checked it: only a spec stored before could get here
        return WhenDecision(Verdict.FAIL, f"when: {exc}")
    read_skipped = sorted({ref.step for ref in references(expr) if ref.step is not None and ref.step in skipped})
    if read_skipped:
        return WhenDecision(Verdict.SKIP, f"when reads skipped step {read_skipped[0]!r}")
    try:
        value = evaluate(expr, inputs, outputs)
    except ConditionError as exc:
        return WhenDecision(Verdict.FAIL, f"when: {exc}")
    if not isinstance(value, bool):
        return WhenDecision(Verdict.FAIL, f"when: a condition must be true or false, got {value!r}")
    return WhenDecision(Verdict.RUN) if value else WhenDecision(Verdict.SKIP, f"when is false: {when}")


def decide_release(
    when: str | None,
    bindings: Mapping[str, Mapping[str, Any]],
    inputs: Mapping[str, Any],
    outputs: Mapping[str, Mapping[str, Any]],
    skipped: Collection[str],
) -> WhenDecision:
    """Run, skip or fail a step whose upstream steps have all finished (succeeded or skipped): what the
    engine decides when it would make the step ready.

    A step that reads a skipped step (an input bound to it outside ``first_of``, or a ``first_of`` none of
    whose options ran) is skipped: its branch did not run. Otherwise its condition decides
    (:func:`decide_when`). Without any skipped step and condition, the answer is RUN at once.
    """
    if skipped:
        for key, binding in bindings.items():
            missing = skipped_read(binding, skipped)
            if missing is not None:
                return WhenDecision(Verdict.SKIP, f"inputs.{key} reads skipped step {missing!r}")
    return decide_when(when, inputs, outputs, skipped)
