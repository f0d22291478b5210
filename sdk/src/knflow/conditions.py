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
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from ._errors import KnflowError

#: the longest condition accepted (a spec is data, not a program)
MAX_LENGTH = 1000
#: deepest nesting of parentheses, lists and ``not``
MAX_DEPTH = 32


class ConditionError(KnflowError, ValueError):
    """A condition does not parse, or cannot be evaluated over the values it was given.

    Attributes:
        reason: what is wrong, without the position.
        position: the 1-based column where parsing stopped, or None for an evaluation error.
    """

    def __init__(self, reason: str, *, position: int | None = None):
        self.reason = reason
        self.position = position
        super().__init__(reason if position is None else f"{reason} (at column {position})")


@dataclass(frozen=True)
class Literal:
    """A constant: a number, a string, true, false or null."""

    value: Any


@dataclass(frozen=True)
class Ref:
    """``steps.NAME.output.a.b`` (``step`` set) or ``inputs.NAME.a`` (``step`` None, ``path[0]`` the input)."""

    step: str | None
    path: tuple[str, ...]

    def __str__(self) -> str:
        if self.step is None:
            return ".".join(("inputs", *self.path))
        return ".".join(("steps", self.step, "output", *self.path))


@dataclass(frozen=True)
class ListExpr:
    """A list of expressions."""

    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    """Boolean negation."""

    operand: Expr


@dataclass(frozen=True)
class BoolOp:
    """``and`` / ``or`` over two or more operands, evaluated left to right, short-circuiting."""

    op: str
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Compare:
    """A comparison: ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in`` or ``not in``."""

    op: str
    left: Expr
    right: Expr


Expr = Union[Literal, Ref, ListExpr, Not, BoolOp, Compare]  # noqa: UP007 (a type alias used at run time)

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,|\.)
      | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)""",
    re.VERBOSE,
)
_COMPARISONS = {"==", "!=", "<", "<=", ">", ">="}


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, op, name, end
    text: str
    position: int  # 1-based column


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    index = 0
    while index < len(text):
        match = _TOKEN.match(text, index)
        if match is None:
            raise ConditionError(f"unexpected character {text[index]!r}", position=index + 1)
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), index + 1))
        index = match.end()
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    """Recursive descent over the token list; depth is bounded, so no input can exhaust the stack."""

    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.index = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def _fail(self, reason: str) -> ConditionError:
        shown = "the end" if self.token.kind == "end" else repr(self.token.text)
        return ConditionError(f"{reason}, found {shown}", position=self.token.position)

    def _take(self, text: str) -> bool:
        if self.token.text == text and self.token.kind in ("op", "name"):
            self.index += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        if not self._take(text):
            raise self._fail(f"expected {text!r}")

    def _nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ConditionError(f"nested more than {MAX_DEPTH} deep", position=self.token.position)

    def parse(self) -> Expr:
        expr = self.expr()
        if self.token.kind != "end":
            raise self._fail("expected an operator or the end")
        return expr

    def expr(self) -> Expr:
        return self._chain("or", self._and)

    def _and(self) -> Expr:
        return self._chain("and", self._not)

    def _chain(self, op: str, operand: Any) -> Expr:
        operands = [operand()]
        while self._take(op):
            operands.append(operand())
        return operands[0] if len(operands) == 1 else BoolOp(op, tuple(operands))

    def _not(self) -> Expr:
        if self._take("not"):
            self._nested()
            inner = self._not()
            self.depth -= 1
            return Not(inner)
        return self._compare()

    def _compare(self) -> Expr:
        left = self._operand()
        token = self.token
        if token.kind == "op" and token.text in _COMPARISONS:
            self.index += 1
            return Compare(token.text, left, self._operand())
        if self._take("in"):
            return Compare("in", left, self._operand())
        if token.text == "not" and self.tokens[self.index + 1].text == "in":
            self.index += 2
            return Compare("not in", left, self._operand())
        return left

    def _operand(self) -> Expr:
        token = self.token
        if token.kind == "number":
            self.index += 1
            number = float(token.text)
            if not math.isfinite(number):
                raise ConditionError("number out of range", position=token.position)
            return Literal(int(token.text) if token.text.lstrip("-").isdigit() else number)
        if token.kind == "string":
            self.index += 1
            return Literal(re.sub(r"\\(.)", r"\1", token.text[1:-1]))
        if token.kind == "name":
            return self._name()
        if self._take("("):
            self._nested()
            inner = self.expr()
            self._expect(")")
            self.depth -= 1
            return inner
        if self._take("["):
            return self._list()
        raise self._fail("expected a value, a reference or '('")

    def _list(self) -> Expr:
        self._nested()
        items: list[Expr] = []
        while not self._take("]"):
            items.append(self.expr())
            if not self._take(","):
                self._expect("]")
                break
        self.depth -= 1
        return ListExpr(tuple(items))

    def _name(self) -> Expr:
        token = self.token
        constants = {"true": True, "false": False, "null": None}
        if token.text in constants:
            self.index += 1
            return Literal(constants[token.text])
        if token.text == "steps":
            self.index += 1
            step = self._field("a step name after 'steps.'")
            self._expect(".")
            if not self._take("output"):
                raise self._fail("expected 'output' after the step name")
            return Ref(step, self._path())
        if token.text == "inputs":
            self.index += 1
            return Ref(None, (self._field("an input name after 'inputs.'"), *self._path()))
        raise self._fail("expected true, false, null, 'steps.NAME.output' or 'inputs.NAME'")

    def _field(self, what: str) -> str:
        self._expect(".")
        if self.token.kind != "name":  # keywords too: a step or a field may be called "in"
            raise self._fail(f"expected {what}")
        name = self.token.text
        self.index += 1
        return name

    def _path(self) -> tuple[str, ...]:
        path: list[str] = []
        while self.token.text == "." and self.token.kind == "op":
            path.append(self._field("a field name after '.'"))
        return tuple(path)


def parse(text: str) -> Expr:
    """The AST of a condition.

    Raises:
        ConditionError: with the column where it stopped, for a syntax error, an over-long or too deeply
            nested condition.
    """
    if not isinstance(text, str):
        raise ConditionError(f"a condition is a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"longer than {MAX_LENGTH} characters", position=MAX_LENGTH + 1)
    if not text.strip():
        raise ConditionError("empty condition", position=1)
    return _Parser(text).parse()


def references(expr: Expr) -> list[Ref]:
    """Every reference in ``expr``, in reading order."""
    if isinstance(expr, Ref):
        return [expr]
    if isinstance(expr, ListExpr):
        return [ref for item in expr.items for ref in references(item)]
    if isinstance(expr, Not):
        return references(expr.operand)
    if isinstance(expr, BoolOp):
        return [ref for operand in expr.operands for ref in references(operand)]
    if isinstance(expr, Compare):
        return [*references(expr.left), *references(expr.right)]
    return []


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
