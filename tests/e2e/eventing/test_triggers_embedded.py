"""Triggers through the embedded bus: HTTP triggers and ``POST /v1/events`` start runs from the bus,
once per event, and every transition's lifecycle events reach ``knflow.runs`` in order."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from knflow_eventing import RUNS_TOPIC, TRIGGERS_TOPIC, Delivery, make_event

from .plane import running_plane, runs_of, settled_runs

BINARY = {"ce-specversion": "1.0", "ce-type": "com.shop.order.created", "content-type": "application/json"}


def binary(event_id: str, source: str = "/shop/eu", **data: Any) -> tuple[dict[str, str], bytes]:
    return {**BINARY, "ce-id": event_id, "ce-source": source}, json.dumps(data).encode()


def structured(
    event_id: str, source: str = "/shop/us", type_: str = "com.shop.order.created", **data: Any
) -> dict[str, Any]:
    return {"specversion": "1.0", "id": event_id, "source": source, "type": type_, "data": data}


async def drain(cp: Any, topic: str, group: str, count: int) -> list[Delivery]:
    """The first ``count`` events of ``topic``, read by a new consumer group."""
    got: list[Delivery] = []
    async with cp.bus.subscribe(topic, group) as sub:
        async for delivery in sub:
            got.append(delivery)
            await delivery.ack()
            if len(got) == count:
                return got
    raise AssertionError(f"{topic} ended after {len(got)} events")


async def test_an_http_trigger_starts_its_run_from_the_bus_and_replies_with_the_result(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (cp, client):
        reply = await client.post("/hooks/orders", json={"order": "A-1"})
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"order": "A-1", "region": "web"}
        run_id = reply.headers["x-knflow-run-id"]

        [published] = await drain(cp, TRIGGERS_TOPIC, "test-reader", 1)
        assert published.event.get_type() == "dev.knflow.trigger.http"
        assert published.event.get_id() == run_id  # the run was created from this event
        assert published.key == run_id
        run = (await client.get(f"/v1/runs/{run_id}")).json()
        assert run["trigger"]["kind"] == "http"
        assert run["trigger"]["event"] == {"id": run_id, "source": "/hooks/orders", "type": "dev.knflow.trigger.http"}


async def test_bad_inputs_of_an_http_trigger_are_refused_before_anything_is_published(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (cp, client):
        reply = await client.post("/hooks/orders", json={"order": 7})
        assert reply.status_code == 422
        assert reply.json()["field"] == "inputs.order"
        assert await runs_of(client, "http_orders") == []
        assert await cp.bus.ensure_topic(TRIGGERS_TOPIC)  # the topic exists, and holds nothing:
        reply = await client.post("/hooks/orders", json={"order": "ok"})
        [first] = await drain(cp, TRIGGERS_TOPIC, "test-reader", 1)
        assert first.event.get_id() == reply.headers["x-knflow-run-id"]


async def test_events_in_binary_structured_and_batch_mode_start_the_runs_their_triggers_match(
    tmp_path: Path,
) -> None:
    async with running_plane(tmp_path) as (_cp, client):
        headers, body = binary("e-1", order="EU-1", region="eu")
        reply = await client.post("/v1/events", headers=headers, content=body)
        assert reply.status_code == 202, reply.text
        assert reply.json() == {"accepted": 1, "ids": ["e-1"]}

        one = structured("e-2", order="US-1", region="us")
        reply = await client.post(
            "/v1/events", content=json.dumps(one), headers={"content-type": "application/cloudevents+json"}
        )
        assert reply.status_code == 202, reply.text

        batch = [
            structured("e-3", order="EU-2", region="eu"),
            structured("e-4", source="/elsewhere", order="X-1", region="eu"),  # source /shop/* does not match
            structured("e-5", type_="com.shop.refund", order="R-1", region="eu"),  # the prefix trigger only
            structured("e-6", type_="com.other", order="O-1", region="eu"),  # nothing matches
        ]
        reply = await client.post(
            "/v1/events", content=json.dumps(batch), headers={"content-type": "application/cloudevents-batch+json"}
        )
        assert reply.status_code == 202, reply.text
        assert reply.json()["accepted"] == 4

        eu = await settled_runs(client, "eu_orders", 3)
        assert sorted(run["inputs"]["order"] for run in eu) == ["EU-1", "EU-2", "X-1"]
        shop = await settled_runs(client, "all_shop_events", 4)
        assert sorted(run["inputs"]["order"] for run in shop) == ["EU-1", "EU-2", "R-1", "US-1"]
        assert all(run["status"] == "succeeded" for run in eu + shop)
        by_order = {run["inputs"]["order"]: run for run in eu}
        assert by_order["EU-1"]["trigger"]["event"]["id"] == "e-1"
        assert by_order["EU-1"]["trigger"]["kind"] == "event"


async def test_the_same_event_delivered_twice_starts_one_run_per_matching_workflow(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (cp, client):
        headers, body = binary("dup-1", order="EU-9", region="eu")
        for _ in range(3):
            assert (await client.post("/v1/events", headers=headers, content=body)).status_code == 202
        # and once more straight onto the bus, as a redelivery would come
        event = make_event("com.shop.order.created", "/shop/eu", {"order": "EU-9", "region": "eu"}, id="dup-1")
        await cp.bus.publish(TRIGGERS_TOPIC, event)
        assert len(await settled_runs(client, "eu_orders", 1)) == 1
        assert len(await settled_runs(client, "all_shop_events", 1)) == 1
        assert cp.consumer.handled >= 4


async def test_triggers_on_other_topics_consume_those_topics(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (cp, client):
        event = make_event("com.billing.invoice", "/billing", {"order": "INV-1"}, id="inv-1")
        await cp.bus.publish("billing", event, key="INV-1")
        [run] = await settled_runs(client, "invoices", 1)
        assert run["status"] == "succeeded"
        assert run["result"] == {"order": "INV-1", "region": "billing"}
        # the same type on the triggers topic is not the billing topic's event
        await cp.bus.publish(TRIGGERS_TOPIC, make_event("com.billing.invoice", "/billing", {"order": "INV-2"}))
        assert len(await settled_runs(client, "invoices", 1)) == 1


async def test_an_event_that_cannot_start_its_run_is_let_go_and_the_next_one_runs(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (cp, client):
        bad = make_event("com.shop.order.created", "/other", {"region": "eu"}, id="no-order")  # order missing
        good = make_event("com.shop.order.created", "/other", {"region": "eu", "order": "EU-5"}, id="good")
        await cp.bus.publish_many(TRIGGERS_TOPIC, [(bad, "k"), (good, "k")])
        [run] = await settled_runs(client, "eu_orders", 1)
        assert run["inputs"]["order"] == "EU-5"
        assert cp.consumer.rejected == 1
        # the refusal is kept, with its reason, where the API shows it (not only in the console)
        page = (await client.get("/v1/rejected-events")).json()
        [rejected] = page["rejected_events"]
        assert rejected["event_id"] == "no-order" and rejected["workflow"] == "eu_orders"
        assert rejected["field"] == "inputs.order" and "missing required input 'order'" in rejected["reason"]
        assert rejected["topic"] == TRIGGERS_TOPIC and rejected["source"] == "/other"
        assert json.loads(rejected["data"]) == {"region": "eu"}
        assert page["next_cursor"] is None
        await cp.bus.publish(TRIGGERS_TOPIC, bad)  # a redelivery is not a second rejection
        await cp.bus.publish(TRIGGERS_TOPIC, good)
        await settled_runs(client, "eu_orders", 1)
        assert len((await client.get("/v1/rejected-events")).json()["rejected_events"]) == 1


async def test_an_event_that_fits_no_matching_workflow_gets_a_400_naming_the_input(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (cp, client):
        headers, body = binary("misfit", source="/other", region="eu")  # eu_orders only; order missing
        reply = await client.post("/v1/events", headers=headers, content=body)
        assert reply.status_code == 400, reply.text
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["field"] == "inputs.order"
        assert "eu_orders" in reply.json()["detail"]
        batch = [structured("ok-1", source="/other", order="EU-1", region="eu"), structured("bad-2", region="eu")]
        batch[1]["data"] = {"region": "eu", "order": 5}  # /shop/us: both workflows match, neither fits
        reply = await client.post(
            "/v1/events", content=json.dumps(batch), headers={"content-type": "application/cloudevents-batch+json"}
        )
        assert reply.status_code == 400, reply.text
        assert (reply.json()["field"], reply.json()["index"]) == ("inputs.order", 1)
        assert await runs_of(client, "eu_orders") == []  # nothing of the refused batch was published
        assert cp.consumer.rejected == 0


async def test_an_event_that_fits_one_matching_workflow_starts_it_and_the_misfit_is_recorded(
    tmp_path: Path,
) -> None:
    async with running_plane(tmp_path) as (_cp, client):
        headers, body = binary("half", region="eu")  # /shop/eu: eu_orders needs an order, all_shop_events not
        reply = await client.post("/v1/events", headers=headers, content=body)
        assert reply.status_code == 202, reply.text
        [run] = await settled_runs(client, "all_shop_events", 1)
        assert run["status"] == "succeeded"
        rejected = (await client.get("/v1/rejected-events", params={"workflow": "eu_orders"})).json()
        assert [(r["event_id"], r["field"]) for r in rejected["rejected_events"]] == [("half", "inputs.order")]
        assert (await client.get("/v1/rejected-events", params={"workflow": "all_shop_events"})).json()[
            "rejected_events"
        ] == []


@pytest.mark.parametrize(
    ("headers", "body", "field"),
    [
        ({"ce-specversion": "1.0", "ce-type": "t", "ce-source": "/s"}, b"{}", "id"),
        ({"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s"}, b"{}", "type"),
        ({"ce-specversion": "1.0", "ce-id": "1", "ce-type": "t"}, b"{}", "source"),
        ({"ce-specversion": "0.3", "ce-id": "1", "ce-type": "t", "ce-source": "/s"}, b"{}", "specversion"),
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-type": "t",
                "ce-source": "/s",
                "content-type": "application/json",
            },
            b"{not json",
            "data",
        ),
        ({"content-type": "application/cloudevents+json"}, b"[1, 2", "specversion"),
        ({"content-type": "application/json"}, b"{}", "specversion"),
    ],
)
async def test_a_malformed_cloudevent_gets_a_400_problem_naming_the_attribute(
    tmp_path: Path, headers: dict[str, str], body: bytes, field: str
) -> None:
    async with running_plane(tmp_path) as (_cp, client):
        reply = await client.post("/v1/events", headers=headers, content=body)
        assert reply.status_code == 400, reply.text
        problem = reply.json()
        assert reply.headers["content-type"] == "application/problem+json"
        assert problem["field"] == field
        assert problem["title"] == "Malformed CloudEvent"


async def test_a_bad_member_of_a_batch_is_named_by_its_index_and_nothing_is_published(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (_cp, client):
        batch = [structured("b-1", order="EU-1", region="eu"), {"specversion": "1.0", "id": "b-2", "type": "t"}]
        reply = await client.post(
            "/v1/events", content=json.dumps(batch), headers={"content-type": "application/cloudevents-batch+json"}
        )
        assert reply.status_code == 400
        assert reply.json()["field"] == "source"
        assert reply.json()["index"] == 1
        await client.post(
            "/v1/events",
            content=json.dumps(structured("b-3", order="US-3", region="us")),
            headers={"content-type": "application/cloudevents+json"},
        )
        [run] = await settled_runs(client, "all_shop_events", 1)
        assert run["inputs"]["order"] == "US-3"


async def test_lifecycle_events_reach_the_runs_topic_once_each_in_order(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (cp, client):
        reply = await client.post("/hooks/orders", json={"order": "L-1"})
        run_id = reply.headers["x-knflow-run-id"]
        events = [d for d in await drain(cp, RUNS_TOPIC, "test-reader", 4) if d.key == run_id]
        assert [d.event.get_type() for d in events] == [
            "dev.knflow.run.started",
            "dev.knflow.step.started",
            "dev.knflow.step.succeeded",
            "dev.knflow.run.succeeded",
        ]
        assert {d.event.get_source() for d in events} == {f"/runs/{run_id}"}
        assert len({d.event.get_id() for d in events}) == 4
        data = events[-1].event.get_data()
        assert isinstance(data, dict) and data["run_id"] == run_id
        assert events[1].event.get_subject() == "note"
        assert await cp.store.take_outbox(10) == []  # an in-process bus is published to straight, no outbox


async def test_manual_api_runs_are_created_by_the_request(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (_cp, client):
        reply = await client.post("/v1/runs", json={"workflow": "http_orders", "inputs": {"order": "M-1"}})
        assert reply.status_code == 201, reply.text
        assert reply.json()["trigger"]["kind"] == "manual"


async def test_a_wait_that_skips_its_first_look_still_sees_a_run_that_already_finished(tmp_path: Path) -> None:
    # HTTP triggers wait with just_published=True (no store read queued ahead of the run's creation);
    # a run created and finished before the wait began (e.g. on another replica) must still be seen.
    async with running_plane(tmp_path) as (cp, client):
        reply = await client.post("/v1/runs?wait=30", json={"workflow": "http_orders", "inputs": {"order": "W-1"}})
        run_id = reply.json()["id"]
        assert (await client.get(f"/v1/runs/{run_id}")).json()["status"] == "succeeded"
        state = await cp.orchestrator.wait(run_id, 5.0, just_published=True)
        assert state is not None and state[0] == "succeeded"
        assert state[1] == {"order": "W-1", "region": "web"}


async def test_metrics_count_trigger_events_lag_and_relayed_lifecycle_events(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    async with running_plane(tmp_path) as (cp, client):
        headers, body = binary("m-1", order="EU-1", region="eu")
        for _ in range(2):
            await client.post("/v1/events", headers=headers, content=body)
        bad = make_event("com.shop.order.created", "/other", {"region": "eu"}, id="no-order")
        await cp.bus.publish(TRIGGERS_TOPIC, bad)
        await settled_runs(client, "eu_orders", 1)
        assert cp.relay is None and cp.lifecycle is not None  # embedded: published straight, no outbox
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for _ in range(100):
            text = (await client.get("/metrics")).text
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            if samples.get(("knflow_lifecycle_events_published_total", ())):
                break
            await asyncio.sleep(0.05)
        assert samples[("knflow_trigger_events_total", (("outcome", "handled"),))] == 2
        assert samples[("knflow_trigger_events_total", (("outcome", "rejected"),))] == 1
        assert samples[("knflow_trigger_events_total", (("outcome", "duplicate"),))] >= 1
        assert samples[("knflow_lifecycle_events_published_total", ())] >= 4
        lags = {labels: v for (name, labels), v in samples.items() if name == "knflow_kafka_consumer_lag"}
        assert lags, "one lag sample per assigned partition of knflow.triggers"
        assert all(dict(labels)["topic"] in {"knflow.triggers", "billing"} for labels in lags)
        assert all(v == 0 for v in lags.values())  # everything was handed out


async def test_a_burst_of_events_never_claims_more_attempts_than_the_worker_capacity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_plane(tmp_path, worker_capacity=5) as (cp, client):
        most = 0
        apply = cp.orchestrator.apply

        def watched(transition: Any) -> None:
            nonlocal most
            apply(transition)
            most = max(most, cp.orchestrator.inflight)

        monkeypatch.setattr(cp.orchestrator, "apply", watched)
        batch = [structured(f"burst-{n}", order=f"EU-{n}", region="eu") for n in range(50)]
        reply = await client.post(
            "/v1/events", content=json.dumps(batch), headers={"content-type": "application/cloudevents-batch+json"}
        )
        assert reply.status_code == 202
        runs = await settled_runs(client, "eu_orders", 50)
        assert len(runs) == 50 and all(run["status"] == "succeeded" for run in runs)
        assert 1 <= most <= 5


LATE_FLOW = """
from knflow import action, event, workflow


@action
def echo(order: str) -> str:
    return order


@workflow(triggers=[event(type="com.shop.order.late")])
def late_orders(order: str) -> object:
    return echo(order=order)
"""


async def test_an_event_for_a_workflow_deployed_since_the_last_reload_starts_its_run(tmp_path: Path) -> None:
    # As on a replica that did not deploy: its periodic reload has not seen the new workflow yet.
    from knflow._loader import load_file

    async with running_plane(tmp_path / "state") as (cp, client):
        cp.consumer.refresh = 3600.0  # the next periodic reload is an hour away
        await asyncio.sleep(1.5)  # the reload already scheduled (1 s after start) is done
        flow = tmp_path / "code" / "late.py"
        flow.parent.mkdir()
        flow.write_text(LATE_FLOW)
        project = load_file(flow)
        spec = project.workflows["late_orders"]
        await cp.workflows.register(spec, project.files)
        assert (await cp.workflows.deploy(spec.name))["status"] == "ready"

        await cp.bus.publish(TRIGGERS_TOPIC, make_event("com.shop.order.late", "/shop", {"order": "L-1"}, id="l-1"))
        [run] = await settled_runs(client, "late_orders", 1)
        assert run["status"] == "succeeded"
        assert run["result"] == "L-1"
