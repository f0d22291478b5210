"""``@trigger``: custom triggers are async generator functions, checked where they are written."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from knflow import Event, SpecError, action, trigger, workflow
from knflow.spec import SourceTrigger, WorkflowSpec


@trigger
async def numbers() -> AsyncIterator[Event]:
    for n in range(3):
        yield Event(type="com.example.number", data={"n": n})


@action
def show(n: int) -> int:
    return n


def test_a_trigger_listed_as_is_matches_everything_its_generator_yields() -> None:
    @workflow(triggers=[numbers])
    def shown(n: int) -> object:
        return show(n=n)

    [spec] = shown.spec.triggers
    assert isinstance(spec, SourceTrigger)
    assert spec.name == "numbers"
    assert spec.entrypoint.endswith(":numbers")
    assert spec.type == "*"
    assert spec.as_event_trigger().source == "/triggers/numbers"
    again = WorkflowSpec.model_validate_json(shown.spec.model_dump_json())
    assert again.triggers == shown.spec.triggers


def test_matching_narrows_the_events_and_keeps_the_version() -> None:
    narrowed = numbers.matching(type="com.example.*", filters={"n": 1})
    assert narrowed.version == numbers.version
    event_trigger = narrowed.as_event_trigger()
    assert (event_trigger.type, event_trigger.filters) == ("com.example.*", {"n": 1})
    assert narrowed.as_action().entrypoint == numbers.entrypoint


async def test_calling_the_trigger_runs_its_generator() -> None:
    assert [event.data async for event in numbers()] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_a_plain_function_is_refused() -> None:
    with pytest.raises(SpecError, match="async generator"):

        @trigger  # type: ignore[arg-type]
        def plain() -> int:
            return 1


def test_a_generator_with_required_parameters_is_refused() -> None:
    with pytest.raises(SpecError, match="no required parameters"):

        @trigger  # type: ignore[arg-type]
        async def needs(x: int) -> AsyncIterator[int]:
            yield x


def test_a_bad_name_or_option_is_refused() -> None:
    with pytest.raises(SpecError, match=r"Bad Name\.name"):

        @trigger(name="Bad Name")
        async def named() -> AsyncIterator[int]:
            yield 1

    with pytest.raises(SpecError, match="requirements"):

        @trigger(requirements="requests")  # type: ignore[call-overload,untyped-decorator]  # a str, not a list
        async def needs_requests() -> AsyncIterator[int]:
            yield 1
