"""``check`` refuses parsed values JSON cannot carry, naming where, whichever path (C fast path or walk) finds it."""

from __future__ import annotations

from typing import Any

import pytest

from knflow.strict_json import MAX_DEPTH, JsonRefused, check


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"inputs": {"x": float("nan")}}, ("inputs", "x")),
        ({"inputs": [1, float("inf")]}, ("inputs", 1)),
        ({"a": {"b\ud800": 1}}, ("a", "b\ud800")),
        ({"a": ["ok", "\udfff"]}, ("a", 1)),
        ({"deep": nested(MAX_DEPTH + 5)}, ("deep", 0)),
    ],
    ids=["nan", "infinity", "surrogate-key", "surrogate-value", "deep"],
)
def test_refused_values_name_where(value: Any, path: tuple[Any, ...]) -> None:
    with pytest.raises(JsonRefused) as caught:
        check(value)
    assert caught.value.path == path


def test_what_json_carries_passes_even_with_brackets_in_strings() -> None:
    check({"deep": nested(MAX_DEPTH - 2), "text": "[" * (MAX_DEPTH * 2), "smile": "\U0001f600", "x": 1e308})
    check("plain")
    check(float("1.5"))
