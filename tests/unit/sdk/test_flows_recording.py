"""Dynamic flows recorded into the spec (``knflow.dev/v2``): map, when, first_of, sub-workflows, sleep, event
waits, approvals, concurrency, priorities; the in-process runner; and v1 specs left exactly as they were."""

from __future__ import annotations

from typing import Any

import pytest

from knflow import (
    Concurrency,
    SpecError,
    action,
    approval,
    first_of,
    http_trigger,
    sleep,
    unmapped,
    wait_for_event,
    workflow,
)
from knflow.spec import dump_json, dump_yaml, load_spec


@action
def listing(prefix: str) -> dict[str, Any]:
    return {"images": [f"{prefix}a", f"{prefix}b", f"{prefix}c"], "big": True}


@action
def resize(image: str, width: int = 128) -> str:
    return f"{image}@{width}"


@action
def pack(items: list[Any]) -> dict[str, Any]:
    return {"zip": items}


@action
def scheduled(when: str) -> str:  # an input called "when": the keyword stays the input's
    return when


@workflow
def child(x: str) -> dict[str, Any]:
    return {"y": resize(image=x)}


def step(definition: Any, name: str) -> dict[str, Any]:
    steps = definition.spec.model_dump(mode="json")["steps"]
    found: dict[str, Any] = next(s for s in steps if s["name"] == name)
    return found


def test_map_records_mapped_and_unmapped_arguments_into_one_step() -> None:
    @workflow
    def thumbs(prefix: str, sizes: list[int]) -> Any:
        found = listing(prefix=prefix)
        return resize.map(image=found["images"], width=unmapped(64), max_parallel=4, on_error="collect")

    assert thumbs.spec.api_version == "knflow.dev/v2"
    mapped = step(thumbs, "resize")
    assert mapped["map"] == {"over": ["image"], "max_parallel": 4, "on_error": "collect"}
    assert mapped["inputs"] == {"image": {"step": "listing", "output": "images"}, "width": {"value": 64}}
    assert thumbs.spec.model_dump(mode="json")["result"] == {"step": "resize", "output": "result"}
    assert thumbs(prefix="p", sizes=[]) == ["pa@64", "pb@64", "pc@64"]


def test_map_needs_a_run_time_list_and_its_result_is_one_list() -> None:
    with pytest.raises(SpecError, match="map\\(\\) needs an argument bound to a run-time list"):

        @workflow
        def constants_only() -> None:
            resize.map(image="a")

    with pytest.raises(SpecError, match="a map's result is one list"):

        @workflow
        def indexed(prefix: str) -> None:
            resize.map(image=listing(prefix=prefix)["images"])["x"]

    with pytest.raises(SpecError, match="max_parallel"):

        @workflow
        def too_wide(prefix: str) -> None:
            resize.map(image=listing(prefix=prefix)["images"], max_parallel=0)


def test_when_takes_an_output_an_input_or_a_condition_string() -> None:
    @workflow
    def branches(prefix: str, go: bool = True) -> Any:
        found = listing(prefix=prefix)
        a = pack.when(found["big"])(items=[1])
        b = pack.named("b", when="not steps.listing.output.big and inputs.go")(items=[2])
        c = pack.named("c", when=go)(items=[3])
        return first_of(a["zip"], b["zip"], c["zip"], None)

    assert step(branches, "pack")["when"] == "steps.listing.output.big"
    assert step(branches, "b")["when"] == "not steps.listing.output.big and inputs.go"
    assert step(branches, "c")["when"] == "inputs.go"
    result = branches.spec.model_dump(mode="json")["result"]
    assert [option.get("step") for option in result["first_of"]] == ["pack", "b", "c", None]
    assert branches(prefix="p") == [1]


def test_a_skipped_branch_falls_through_first_of_and_skips_its_readers() -> None:
    @workflow
    def branches(go: bool) -> Any:
        a = pack(items=["yes"], when=go)  # type: ignore[call-arg]  # the untyped spelling of .when(go)
        after_a = pack.named("after_a")(items=a["zip"])  # reads a skipped step: skipped too
        b = pack.named("b", when="not inputs.go")(items=["no"])
        return {"picked": first_of(after_a["zip"], b["zip"]), "default": first_of(a["zip"], "none")}

    assert branches(go=True) == {"picked": ["yes"], "default": ["yes"]}
    assert branches(go=False) == {"picked": ["no"], "default": "none"}


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (
            "steps.listing.output.big ==",
            "steps.pack.when: expected a value, a reference or '(', found the end (at column 28)",
        ),
        (3, "when= takes a boolean output, an input or a condition string, got int"),
    ],
)
def test_a_bad_condition_is_refused_when_recorded(when: Any, message: str) -> None:
    with pytest.raises(SpecError) as caught:

        @workflow
        def bad(prefix: str) -> None:
            listing(prefix=prefix)
            pack.when(when)(items=[])

    assert message in str(caught.value)


def test_a_condition_naming_an_unknown_step_or_input_is_refused() -> None:
    with pytest.raises(SpecError) as caught:

        @workflow
        def bad(prefix: str) -> None:
            pack.when("steps.nothere.output.ok or inputs.nope")(items=[])

    text = str(caught.value)
    assert "steps.pack.when: steps.nothere.output.ok: unknown step 'nothere'" in text
    assert "steps.pack.when: inputs.nope: unknown workflow input 'nope'" in text


def test_an_input_called_when_stays_an_input() -> None:
    @workflow
    def plain(at: str) -> Any:
        return scheduled(when=at)

    assert step(plain, "scheduled")["inputs"] == {"when": {"input": "at"}}
    assert plain.spec.api_version == "knflow.dev/v1"


def test_sleep_waits_and_approvals_are_barriers_in_code_order() -> None:
    @workflow
    def checkout(order: str) -> Any:
        found = listing(prefix=order)
        sleep("10m")
        paid = wait_for_event("com.shop.paid", match={"order.id": order, "kind": "card"}, timeout="1h")
        decision = approval("Ship it?", timeout="2d")
        return pack(items=[paid["event"], decision["approved"], found["big"]])

    assert step(checkout, "sleep") == {"name": "sleep", "inputs": {}, "sleep": {"seconds": 600.0}, "after": ["listing"]}
    wait = step(checkout, "wait")
    assert wait["after"] == ["sleep"]
    assert wait["wait_for_event"] == {
        "type": "com.shop.paid",
        "source": None,
        "match": {"order.id": {"input": "order"}, "kind": {"value": "card"}},
        "timeout": 3600.0,
    }
    assert step(checkout, "approval")["approval"] == {"prompt": "Ship it?", "timeout": 172800.0}
    assert step(checkout, "pack")["after"] == ["approval"]
    with pytest.raises(SpecError, match="runs on a control plane only"):
        checkout(order="o")


def test_wait_and_approval_outputs_are_declared() -> None:
    with pytest.raises(SpecError, match="unknown output 'data'"):

        @workflow
        def bad() -> Any:
            return wait_for_event("x")["data"]


def test_a_workflow_called_in_a_workflow_is_a_sub_workflow_step() -> None:
    @workflow
    def parent(prefix: str) -> Any:
        first = child(x=prefix)
        pinned = child.named("pinned", version="0123456789ab", when="inputs.prefix == 'p'")(x=first["y"])
        return pinned["y"]

    assert step(parent, "child") == {
        "name": "child",
        "inputs": {"x": {"input": "prefix"}},
        "workflow": {"name": "child", "version": None},
    }
    pinned = step(parent, "pinned")
    assert pinned["workflow"] == {"name": "child", "version": "0123456789ab"}
    assert pinned["when"] == "inputs.prefix == 'p'"
    assert parent(prefix="p") == "p@128@128"
    with pytest.raises(SpecError, match="workflow child has no input 'z'"):

        @workflow
        def wrong() -> None:
            child(x="a", z=1)

    with pytest.raises(SpecError, match="unknown output 'nope'"):

        @workflow
        def unknown_output() -> Any:
            return child(x="a")["nope"]


def test_concurrency_max_concurrency_and_priority_are_in_the_spec() -> None:
    @action(max_concurrency=2)
    def limited(customer: str) -> str:
        return customer

    @workflow(concurrency=Concurrency(key="inputs.customer", limit=1), triggers=[http_trigger("/orders", priority=10)])
    def orders(customer: str) -> Any:
        return limited(customer=customer)

    dumped = orders.spec.model_dump(mode="json")
    assert dumped["concurrency"] == {"key": "inputs.customer", "limit": 1}
    assert dumped["triggers"][0]["priority"] == 10
    assert dumped["actions"]["limited"]["options"]["max_concurrency"] == 2
    assert [feature for _, feature in orders.spec.flow_features] == ["concurrency", "max_concurrency", "priority"]
    with pytest.raises(SpecError, match=r"concurrency\.key: unknown workflow input 'nobody'"):

        @workflow(concurrency=Concurrency(key="inputs.nobody"))
        def keyed(customer: str) -> None:
            limited(customer=customer)


def test_a_v1_workflow_keeps_its_form_and_version() -> None:
    @workflow(triggers=[http_trigger("/plain")])
    def plain(prefix: str) -> Any:
        return pack(items=listing(prefix=prefix)["images"])

    dumped = plain.spec.model_dump(mode="json")
    assert dumped["api_version"] == "knflow.dev/v1"
    assert set(dumped) == {
        "api_version",
        "name",
        "description",
        "inputs",
        "steps",
        "result",
        "triggers",
        "actions",
        "timeout",
    }
    assert all(set(s) == {"name", "action", "inputs"} for s in dumped["steps"])
    assert "priority" not in dumped["triggers"][0] and "max_concurrency" not in dumped["actions"]["pack"]["options"]
    assert load_spec(dumped).version == plain.spec.version


def test_a_v1_spec_using_a_v2_field_is_told_to_say_v2() -> None:
    data = {"name": "w", "steps": [{"name": "a", "action": "x", "when": "true"}]}
    with pytest.raises(SpecError, match=r"steps\.a\.when: when needs api_version: knflow\.dev/v2"):
        load_spec(data)
    assert load_spec({**data, "api_version": "knflow.dev/v2"}).steps[0].when == "true"


def test_a_barrier_first_waits_for_nothing_and_v2_specs_round_trip() -> None:
    @workflow
    def later(order: str) -> Any:
        sleep(30)
        return approval("ok?", name="ok", when="inputs.order != ''")["approved"]

    assert step(later, "sleep") == {"name": "sleep", "inputs": {}, "sleep": {"seconds": 30.0}}
    assert step(later, "ok")["after"] == ["sleep"]
    assert later.spec.flow_features[0] == ("steps.sleep.sleep", "sleep")
    for text in (dump_yaml(later.spec), dump_json(later.spec)):
        again = load_spec(text)
        assert again == later.spec and again.version == later.spec.version
