"""The condition grammar of ``when=``: parsing into an AST, errors with their column, evaluation over dicts,
and two properties: any text either parses or raises ConditionError, and a printed AST parses back to itself."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knflow.conditions import (
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
    evaluate,
    holds,
    parse,
    references,
    steps_read,
)

INPUTS = {"n": 3, "name": "ada", "tags": ["a", "b"], "flag": True, "nested": {"deep": {"x": 1.5}}}
OUTPUTS: dict[str, dict[str, Any]] = {
    "check": {"ok": True, "score": 0.75, "labels": ["cat"]},
    "fetch": {"result": "done"},
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("steps.check.output.ok", True),
        ("steps.check.output.ok == true", True),
        ("inputs.n > 2 and inputs.n <= 3", True),
        ("inputs.n >= 4 or inputs.name == 'ada'", True),
        ("not inputs.flag", False),
        ("not (inputs.n < 3)", True),
        ("'cat' in steps.check.output.labels", True),
        ("'dog' not in steps.check.output.labels", True),
        ("inputs.name in ['ada', \"bob\"]", True),
        ("'d' in inputs.name", True),
        ("'deep' in inputs.nested", True),
        ("inputs.nested.deep.x == 1.5", True),
        ("inputs.n == 3.0", True),
        ("inputs.flag == 1", False),  # JSON equality: true is not 1
        ("inputs.missing_ok == null", None),
        ("steps.fetch.output.result != 'done'", False),
        ("inputs.tags == ['a', 'b']", True),
        ("-1 < 0 and 1e3 > 999", True),
        ("'it\\'s' == \"it's\"", True),
    ],
)
def test_conditions_evaluate_over_inputs_and_outputs(text: str, expected: bool | None) -> None:
    if expected is None:
        with pytest.raises(ConditionError, match="workflow input 'missing_ok' was not given"):
            holds(text, INPUTS, OUTPUTS)
        return
    assert holds(text, INPUTS, OUTPUTS) is expected


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("a == 1", 1, "expected true, false, null"),
        ("inputs.n ==", 12, "expected a value"),
        ("(inputs.n == 1", 15, "expected ')'"),
        ("steps.a.x", 9, "expected 'output'"),
        ("inputs.n == 1 2", 15, "expected an operator or the end"),
        ("inputs.n = 1", 10, "unexpected character '='"),
        ("inputs.n == 'open", 13, "unexpected character"),
        ("[1, 2", 6, "expected ']'"),
        ("inputs.", 8, "expected an input name"),
        ("   ", 1, "empty condition"),
    ],
)
def test_syntax_errors_give_the_column(text: str, column: int, reason: str) -> None:
    with pytest.raises(ConditionError) as caught:
        parse(text)
    assert caught.value.position == column, str(caught.value)
    assert reason in caught.value.reason
    assert f"(at column {column})" in str(caught.value)


def test_bounds_keep_any_text_cheap_to_parse() -> None:
    with pytest.raises(ConditionError, match=f"longer than {MAX_LENGTH}"):
        parse("true or " * 200 + "true")
    with pytest.raises(ConditionError, match="nested more than"):
        parse("(" * (MAX_DEPTH + 1) + "true" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(ConditionError, match="nested more than"):
        parse("not " * (MAX_DEPTH + 1) + "true")
    assert parse("(" * MAX_DEPTH + "true" + ")" * MAX_DEPTH) == Literal(True)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("inputs.n and true", "'and' takes true or false, got a number 3"),
        ("not inputs.name", "'not' takes true or false"),
        ("inputs.n < 'a'", "'<' compares two numbers or two strings, got a number and a string"),
        ("inputs.flag < 2", "compares two numbers or two strings, got a boolean"),
        ("1 in inputs.name", "'in' a string looks for a string"),
        ("1 in inputs.n", "'in' looks in a list, a string or an object"),
        ("steps.gone.output.x", "step 'gone' has no outputs"),
        ("steps.check.output.nope", "no field 'nope' in steps.check.output (an object)"),
        ("inputs.nested.deep.y", "no field 'y' in inputs.nested.deep (an object)"),
        ("inputs.n", "must be true or false, this one is a number 3"),
    ],
)
def test_evaluation_errors_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(ConditionError) as caught:
        holds(text, INPUTS, OUTPUTS)
    assert reason in str(caught.value)
    assert caught.value.position is None


def test_and_or_short_circuit_left_to_right() -> None:
    # the right side would fail (a missing step): it is never evaluated
    assert holds("false and steps.gone.output.x", INPUTS, OUTPUTS) is False
    assert holds("true or steps.gone.output.x", INPUTS, OUTPUTS) is True


def test_references_and_steps_read() -> None:
    expr = parse("steps.a.output.x.y == inputs.z and steps.b.output in [steps.c.output.k]")
    assert [str(ref) for ref in references(expr)] == [
        "steps.a.output.x.y",
        "inputs.z",
        "steps.b.output",
        "steps.c.output.k",
    ]
    assert steps_read("steps.a.output.ok or steps.b.output.ok") == {"a", "b"}
    assert steps_read("steps.a.output.ok or") == set()  # does not parse: validation says why


def test_keywords_may_name_steps_and_fields() -> None:
    assert parse("steps.in.output.not") == Ref("in", ("not",))
    assert parse("inputs.and") == Ref(None, ("and",))


# -- properties ---------------------------------------------------------------------------------------
_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True)
_LITERALS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: float(repr(f))),
    st.text(st.characters(codec="ascii", exclude_characters="\x00"), max_size=8),
).map(Literal)
_REFS = st.one_of(
    st.builds(lambda s, p: Ref(s, tuple(p)), _NAMES, st.lists(_NAMES, max_size=2)),
    st.builds(lambda n, p: Ref(None, (n, *p)), _NAMES, st.lists(_NAMES, max_size=2)),
)


def _extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    return st.one_of(
        st.builds(lambda items: ListExpr(tuple(items)), st.lists(children, max_size=3)),
        st.builds(Not, children),
        st.builds(
            lambda op, items: BoolOp(op, tuple(items)),
            st.sampled_from(["and", "or"]),
            st.lists(children, min_size=2, max_size=3),
        ),
        st.builds(Compare, st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "in", "not in"]), children, children),
    )


EXPRS = st.recursive(st.one_of(_LITERALS, _REFS), _extend, max_leaves=8)


def render(expr: Expr) -> str:
    """Text for ``expr``, every compound parenthesised: parentheses keep the structure, so it parses back."""
    if isinstance(expr, Literal):
        if isinstance(expr.value, str):
            return "'" + expr.value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return json.dumps(expr.value) if not isinstance(expr.value, float) else repr(expr.value)
    if isinstance(expr, Ref):
        return str(expr)
    if isinstance(expr, ListExpr):
        return "[" + ", ".join(render(item) for item in expr.items) + "]"
    if isinstance(expr, Not):
        return f"(not {render(expr.operand)})"
    if isinstance(expr, BoolOp):
        return "(" + f" {expr.op} ".join(render(o) for o in expr.operands) + ")"
    assert isinstance(expr, Compare)
    return f"({render(expr.left)} {expr.op} {render(expr.right)})"


@settings(max_examples=300, deadline=None)
@given(EXPRS)
def test_a_printed_condition_parses_back_to_its_ast(expr: Expr) -> None:
    text = render(expr)
    if len(text) <= MAX_LENGTH:
        assert parse(text) == expr


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("steps.output inputs ()[],'\"=!<> andornotin 0123 x_")), max_size=60))
def test_any_text_parses_or_raises_condition_error_only(text: str) -> None:
    # no other exception (RecursionError, IndexError...) and a syntax error always has its column
    position: int | None = 0
    try:
        expr = parse(text)
    except ConditionError as exc:
        position = exc.position
        expr = Literal(None)
    assert position is not None
    with contextlib.suppress(ConditionError):
        evaluate(expr, {"x": 1}, {"x": {"x": 0}})
