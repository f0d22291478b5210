"""The workflow DSL: recording a function into a DAG spec."""

from __future__ import annotations

from typing import Any

import pytest

from knflow import ActionError, SpecError, action, http_trigger, schedule, workflow
from knflow.spec import dump_json, dump_yaml, load_spec


@action
def fetch(url: str) -> dict[str, Any]:
    return {"image": url.upper(), "size": len(url)}


@action(retries=3, timeout="60s", memory="512Mi", cpu="500m")
def resize(image: str, width: int = 128) -> dict[str, Any]:
    return {"thumbnail": f"{image}@{width}"}


@action
def total(values: list[int]) -> int:
    return sum(values)


@action(outputs=["only"])
def declared() -> dict[str, Any]:
    return {"only": 1}


def test_calls_become_steps_with_bindings_to_inputs_constants_and_upstream_outputs() -> None:
    @workflow(triggers=[http_trigger(path="/thumbnails", timeout="30s")])
    def thumbnails(url: str, width: int = 128) -> Any:
        img = fetch(url=url)
        small = resize(image=img["image"], width=width)
        tiny = resize(image=img["image"], width=16)
        return {"small": small["thumbnail"], "tiny": tiny["thumbnail"]}

    spec = thumbnails.spec
    assert [s.name for s in spec.steps] == ["fetch", "resize", "resize_2"]
    steps = {s.name: s.model_dump(mode="json") for s in spec.steps}
    assert steps["fetch"]["inputs"] == {"url": {"input": "url"}}
    assert steps["resize"]["inputs"]["image"] == {"step": "fetch", "output": "image"}
    assert steps["resize"]["inputs"]["width"] == {"input": "width"}
    assert steps["resize_2"]["inputs"]["width"] == {"value": 16}
    assert spec.inputs["width"].required is False and spec.inputs["width"].default == 128
    assert set(spec.actions) == {"fetch", "resize"}
    assert spec.triggers[0].kind == "http" and spec.triggers[0].path == "/thumbnails"


def test_lists_of_references_make_array_bindings_for_fan_in() -> None:
    @action
    def one(x: int) -> int:
        return x

    @workflow
    def fan(x: int) -> Any:
        parts = [one.named(f"part_{i}")(x=x) for i in range(3)]
        return total(values=parts)

    spec = fan.spec
    join = spec.step("total").model_dump(mode="json")
    assert join["inputs"]["values"] == {"array": [{"step": f"part_{i}", "output": "result"} for i in range(3)]}
    assert fan(x=2) == 6


def test_a_workflow_called_directly_runs_the_dag_in_process() -> None:
    @workflow
    def pipeline(url: str) -> Any:
        return resize(image=fetch(url=url)["image"], width=2)["thumbnail"]

    assert pipeline(url="ab") == "AB@2"


def test_an_action_called_outside_a_workflow_runs_the_function() -> None:
    assert resize("x", width=3) == {"thumbnail": "x@3"}
    with pytest.raises(ActionError):
        action(lambda: (_ for _ in ()).throw(ActionError(404, "nope")))()


def _wrong_type(url: Any) -> Any:
    return resize(image=url, width="wide")  # type: ignore[arg-type]


def _missing_input(url: Any) -> Any:
    return resize(width=3)  # type: ignore[call-arg]


def _unknown_input(url: Any) -> Any:
    return resize(image=url, height=3)  # type: ignore[call-arg]


def _unknown_output(url: Any) -> Any:
    return resize(image=declared()["other"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_wrong_type, "steps.resize.inputs.width: wrong type: expected integer"),
        (_missing_input, "steps.resize.inputs.image: missing required input"),
        (_unknown_input, "steps.resize.inputs.height: action resize has no input"),
        (_unknown_output, "unknown output 'other'"),
    ],
)
def test_invalid_workflows_name_the_step_and_field(body: Any, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        workflow(name="bad")(body)
    assert message in str(caught.value)


def test_references_cannot_be_computed_with_at_recording_time() -> None:
    with pytest.raises(SpecError, match="known only at run time"):

        @workflow
        def bad(width: int) -> Any:
            return resize(image="x", width=width * 2)


def test_invalid_triggers_are_refused_with_their_field() -> None:
    with pytest.raises(SpecError, match=r"triggers\.schedule\.cron: minute value '61'"):
        schedule("61 * * * *")
    with pytest.raises(SpecError, match="time zone"):
        schedule("* * * * *", timezone="Mars/Olympus")
    with pytest.raises(SpecError, match=r"triggers\.http\.path"):
        http_trigger(path="/../etc")


def test_unknown_action_options_are_refused_at_decoration_time() -> None:
    with pytest.raises(SpecError, match="memroy"):
        action(memroy="1Gi")(lambda: None)  # type: ignore[call-overload]
    with pytest.raises(SpecError, match="memory"):
        action(memory="lots")(lambda: None)


def test_specs_round_trip_through_json_and_yaml() -> None:
    @workflow(triggers=[schedule("0 9 * * mon-fri", timezone="Europe/Paris", inputs={"url": "https://example.com"})])
    def daily(url: str) -> Any:
        return fetch(url=url)

    spec = daily.spec
    assert load_spec(dump_yaml(spec)) == spec
    assert load_spec(dump_json(spec)) == spec
    assert load_spec(dump_yaml(spec)).version == spec.version


def test_action_versions_are_stable_and_change_with_options() -> None:
    again = action(retries=3, timeout="60s", memory="512Mi", cpu="500m")(resize.fn)
    other = action(retries=4, timeout="60s", memory="512Mi", cpu="500m")(resize.fn)
    assert again.version == resize.version
    assert other.version != resize.version


def test_a_workflow_timeout_is_a_duration_in_the_spec() -> None:
    @workflow(timeout="1h30m")
    def slow(url: str) -> Any:
        return fetch(url=url)

    assert slow.spec.timeout == 5400.0
    with pytest.raises(SpecError, match="timeout"):
        workflow(timeout="soon")(lambda url: fetch(url=url))


@pytest.mark.parametrize(("text", "seconds"), [("0", 0.0), (0, 0.0), ("0s", 0.0), ("30", 30.0), ("2.5", 2.5)])
def test_a_duration_given_as_a_number_in_text_is_seconds_like_the_number(text: str | int, seconds: float) -> None:
    assert http_trigger(path="/x", timeout=text).timeout == seconds


@pytest.mark.parametrize("text", ["nan", "inf", "-1", "soon", ""])
def test_a_duration_that_is_no_number_of_seconds_is_refused_naming_the_field(text: str) -> None:
    with pytest.raises(SpecError, match=r"triggers\.http\.timeout"):
        http_trigger(path="/x", timeout=text)


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ({}, "triggers.0.inputs.url: a schedule must give the required input 'url'"),
        ({"url": 3}, "triggers.0.inputs.url: wrong type: expected string, got integer"),
        ({"url": "u", "uri": "v"}, "triggers.0.inputs.uri: unknown workflow input 'uri'"),
    ],
)
def test_a_schedule_whose_inputs_fit_no_run_is_refused_when_declared(inputs: dict[str, Any], problem: str) -> None:
    with pytest.raises(SpecError) as refused:

        @workflow(triggers=[schedule("0 9 * * *", inputs=inputs)])
        def daily(url: str) -> Any:
            return fetch(url=url)

    assert problem in str(refused.value)
