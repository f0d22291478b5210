"""Query-string inputs are read as the workflow's declared input types."""

from __future__ import annotations

from typing import Any

import pytest

from knflow import action, workflow
from knflow_control_plane.domain.query_inputs import query_inputs


@action
def echo(n: int, ratio: float, flag: bool, name: str, tags: list[str], maybe: int | None, either: int | str) -> int:
    return n


@workflow
def typed(
    n: int, ratio: float, flag: bool, name: str, tags: list[str], maybe: int | None = None, either: int | str = 0
) -> Any:
    return echo(n=n, ratio=ratio, flag=flag, name=name, tags=tags, maybe=maybe, either=either)


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        ("n", "3", 3),
        ("n", "-12", -12),
        ("ratio", "2.5", 2.5),
        ("ratio", "3", 3.0),
        ("flag", "true", True),
        ("flag", "0", False),
        ("name", "007", "007"),
        ("tags", '["a", "b"]', ["a", "b"]),
        ("maybe", "4", 4),
        ("maybe", "null", None),
        ("either", "5", "5"),  # text fits: kept as text
        ("n", "three", "three"),  # does not read as an integer: the input check names it
        ("n", "3.5", "3.5"),
        ("flag", "maybe", "maybe"),
        ("unknown", "1", "1"),  # not an input: left for the check to refuse
    ],
)
def test_a_query_value_is_read_as_its_declared_type(field: str, text: str, value: Any) -> None:
    converted = query_inputs(typed.spec.inputs, {field: text})[field]
    assert converted == value and type(converted) is type(value)
