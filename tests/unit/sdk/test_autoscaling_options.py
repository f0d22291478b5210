"""Autoscaling options of ``@action``: checked when the decorator runs, in the spec and the version."""

from __future__ import annotations

from typing import Any

import pytest

from knflow import SpecError, action
from knflow._options import make_options
from knflow.spec import ActionSpec


def test_autoscaling_options_are_checked_and_normalised() -> None:
    options = make_options(
        where="action a",
        max_instances=5,
        min_scale=1,
        scale_metric="rps",
        target=20,
        scale_down_delay="15m",
        scale_to_zero_retention=30,
    )
    assert options.as_dict() == {
        **make_options(where="action a", max_instances=5).as_dict(),
        "min_scale": 1,
        "scale_metric": "rps",
        "target": 20,
        "scale_down_delay": 900.0,
        "scale_to_zero_retention": 30.0,
    }


def test_unset_autoscaling_options_stay_out_of_the_spec() -> None:
    # Actions written before these options existed keep their spec, hence their version.
    assert not {"min_scale", "scale_metric", "target", "scale_down_delay"} & set(make_options(where="a").as_dict())


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({"min_scale": -1}, "min_scale", "integer >= 0"),
        ({"min_scale": True}, "min_scale", "integer >= 0"),
        ({"min_scale": 5, "max_instances": 2}, "min_scale", "over max_instances 2"),
        ({"scale_metric": "cpu"}, "scale_metric", "concurrency, rps"),
        ({"target": 0}, "target", "integer >= 1"),
        ({"target": 2.5}, "target", "integer >= 1"),
        ({"scale_down_delay": "2h"}, "scale_down_delay", "at most 1h"),
        ({"scale_down_delay": "soon"}, "scale_down_delay", "duration"),
        ({"scale_to_zero_retention": -3}, "scale_to_zero_retention", "negative"),
    ],
)
def test_bad_autoscaling_options_name_the_option(options: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(SpecError) as raised:
        make_options(where="action a", **options)
    assert raised.value.path == f"action a.{field}"
    assert words in str(raised.value)


def test_the_decorator_takes_them_and_the_version_changes_with_them() -> None:
    def work(x: int) -> int:
        return x

    plain = action(name="work")(work)
    scaled = action(name="work", min_scale=1, scale_down_delay="30s")(work)
    other = action(name="work", min_scale=1, scale_down_delay="60s")(work)
    assert len({plain.version, scaled.version, other.version}) == 3
    assert scaled.options.min_scale == 1 and scaled.options.scale_down_delay == 30.0
    with pytest.raises(SpecError, match="scale_metric"):
        action(name="work", scale_metric="memory")(work)


def test_a_spec_round_trips_its_autoscaling_options() -> None:
    options = make_options(where="a", min_scale=2, scale_down_delay="1m").as_dict()
    spec = ActionSpec(name="a", version="v1", entrypoint="m:a", options=options)
    assert spec.options == options
    with pytest.raises(ValueError, match="scale_metric"):
        ActionSpec(name="a", version="v1", entrypoint="m:a", options={**options, "scale_metric": "gpu"})
