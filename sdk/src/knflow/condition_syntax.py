"""The syntax of ``when=`` conditions: tokens, the parser and the AST it builds (see :mod:`.conditions`
for the grammar and what the values mean).

Recursive descent over a token list; no ``eval``. Length and nesting are bounded, so no input can exhaust
the stack.
"""

from __future__ import annotations

import math
import re
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
