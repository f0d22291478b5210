"""The condition grammar of ``when=``: a tiny, safe expression language over inputs and upstream outputs.

No ``eval``: text is tokenized and parsed into a small AST (frozen dataclasses), checked when a spec is
registered, and evaluated over plain dicts when the step is about to run. Shared by the SDK (checks at
recording time, the in-process runner) and the control plane (registration, the engine)::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := operand [("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not" "in") operand]
    operand := literal | reference | "(" expr ")" | "[" [expr ("," expr)* [","]] "]"
    literal := number | 'string' | "string" | true | false | null
    reference := "steps" "." NAME "." "output" ("." FIELD)* | "inputs" "." NAME ("." FIELD)*

Values are JSON values: ``1 == true`` is false, ``<`` compares numbers with numbers and strings with
strings, ``and``/``or``/``not`` take booleans only, ``in`` looks in a list, a string or an object's keys.

The syntax (tokens, the parser, the AST) is :mod:`.condition_syntax`; this module evaluates it, and
re-exports it: import from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .condition_syntax import (
    MAX_DEPTH,
    MAX_LENGTH,
    BoolOp,
    Compare,
    ConditionError,
    Expr,
    ListExpr,
    Literal,
    Not,
    Ref,
    parse,
    references,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "BoolOp",
    "Compare",
    "ConditionError",
    "Expr",
    "ListExpr",
    "Literal",
    "Not",
    "Ref",
    "evaluate",
    "holds",
    "parse",
    "references",
    "steps_read",
]


def steps_read(text: str) -> set[str]:
    """Names of the steps a condition reads, or none when it does not parse (validation says why)."""
    try:
        return {ref.step for ref in references(parse(text)) if ref.step is not None}
    except ConditionError:
        return set()


def evaluate(expr: Expr, inputs: Mapping[str, Any], outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    """The value of ``expr`` given the workflow inputs and the outputs of finished steps (by step name).

    Raises:
        ConditionError: a reference to something absent, or operands of the wrong types.
    """
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Ref):
        return _lookup(expr, inputs, outputs)
    if isinstance(expr, ListExpr):
        return [evaluate(item, inputs, outputs) for item in expr.items]
    if isinstance(expr, Not):
        return not _boolean(evaluate(expr.operand, inputs, outputs), "not")
    if isinstance(expr, BoolOp):
        for operand in expr.operands:
            value = _boolean(evaluate(operand, inputs, outputs), expr.op)
            if value is (expr.op == "or"):
                return value
        return expr.op == "and"
    return _compare(expr.op, evaluate(expr.left, inputs, outputs), evaluate(expr.right, inputs, outputs))


def holds(text: str, inputs: Mapping[str, Any], outputs: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether the condition ``text`` is true.

    Raises:
        ConditionError: it does not parse, cannot be evaluated, or its value is not a boolean.
    """
    value = evaluate(parse(text), inputs, outputs)
    if not isinstance(value, bool):
        raise ConditionError(f"a condition must be true or false, this one is {_kind(value)} {value!r}")
    return value


def _lookup(ref: Ref, inputs: Mapping[str, Any], outputs: Mapping[str, Mapping[str, Any]]) -> Any:
    if ref.step is None:
        if ref.path[0] not in inputs:
            raise ConditionError(f"{ref}: workflow input {ref.path[0]!r} was not given")
        value: Any = inputs[ref.path[0]]
        start = 1
    else:
        if ref.step not in outputs:
            raise ConditionError(f"{ref}: step {ref.step!r} has no outputs")
        value, start = dict(outputs[ref.step]), 0
    for depth in range(start, len(ref.path)):
        key = ref.path[depth]
        if not isinstance(value, Mapping) or key not in value:
            where = Ref(ref.step, ref.path[:depth])
            raise ConditionError(f"{ref}: no field {key!r} in {where} ({_kind(value)})")
        value = value[key]
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _boolean(value: Any, op: str) -> bool:
    if not isinstance(value, bool):
        raise ConditionError(f"'{op}' takes true or false, got {_kind(value)} {value!r}")
    return value


def _equal(left: Any, right: Any) -> bool:
    # JSON equality: true is not 1, 1 is 1.0; lists and objects compared item by item
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left is right
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_equal(left[k], right[k]) for k in left)
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and not isinstance(left, list | dict) and bool(left == right)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return _equal(left, right)
    if op == "!=":
        return not _equal(left, right)
    if op in ("in", "not in"):
        return _contains(right, left) is (op == "in")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (left, right))
    if not numbers and not (isinstance(left, str) and isinstance(right, str)):
        raise ConditionError(f"'{op}' compares two numbers or two strings, got {_kind(left)} and {_kind(right)}")
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, list):
        return any(_equal(item, entry) for entry in container)
    if isinstance(container, str):
        if not isinstance(item, str):
            raise ConditionError(f"'in' a string looks for a string, got {_kind(item)}")
        return item in container
    if isinstance(container, dict):
        return isinstance(item, str) and item in container
    raise ConditionError(f"'in' looks in a list, a string or an object, got {_kind(container)}")
