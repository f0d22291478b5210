"""Return values checked against the action's return annotation, naming the output that does not fit."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from knflow import action
from knflow_runtime.errors import OutputError
from knflow_runtime.invoke import check_output


class Greeting(BaseModel):
    text: str
    count: int


class Counted(TypedDict):
    count: int


@action
def plain() -> int:
    return 1


@action
def named() -> dict[str, int]:
    return {}


@action
def modelled() -> Greeting:
    return Greeting(text="hi", count=1)


@action
def typed() -> Counted:
    return {"count": 1}


@action
def loose():  # type: ignore[no-untyped-def]  # no annotation: anything goes
    return object()


@pytest.mark.parametrize(
    ("act", "value", "message"),
    [
        (plain, "one", "output 'result': does not match the return annotation: expected integer, got string"),
        (named, {"n": "x"}, "output 'n': does not match the return annotation: expected integer, got string"),
        (modelled, {"text": "hi", "count": "many"}, "output 'count': does not match the return annotation: Input"),
        (typed, {"count": "q"}, "output 'count': does not match the return annotation: Input"),
    ],
)
def test_a_value_that_does_not_fit_fails_naming_the_output(act: Any, value: Any, message: str) -> None:
    with pytest.raises(OutputError) as failed:
        check_output(act, value)
    assert str(failed.value).startswith(message)


@pytest.mark.parametrize(
    ("act", "value"),
    [(plain, 3), (named, {"n": 1}), (modelled, Greeting(text="hi", count=2)), (typed, {"count": 2}), (loose, object())],
)
def test_a_value_that_fits_or_an_action_without_annotation_passes(act: Any, value: Any) -> None:
    check_output(act, value)
