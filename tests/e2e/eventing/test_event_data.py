"""What JSON cannot carry is refused where it comes in, with a 400 naming the field (never a 202 and a
silent drop, never a 500): NaN, Infinity, lone surrogates, 10,000 levels of nesting, on ``/v1/events``,
HTTP triggers and ``/v1/runs``. JSON data sent as ``data_base64`` starts its run on the embedded bus."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from .plane import running_plane, settled_runs

BINARY = {
    "ce-specversion": "1.0",
    "ce-type": "com.shop.order.created",
    "ce-source": "/shop/eu",
    "content-type": "application/json",
}
STRUCTURED = {"content-type": "application/cloudevents+json"}
DEEP = "[" * 10_000 + "]" * 10_000
BAD_DATA = {
    "nan": '{"order": NaN, "region": "eu"}',
    "infinity": '{"order": "A", "region": "eu", "n": Infinity}',
    "lone-surrogate": '{"order": "\\ud800", "region": "eu"}',
    "deep": '{"order": "A", "region": "eu", "n": ' + DEEP + "}",
}


async def no_runs(client: httpx.AsyncClient) -> None:
    runs = (await client.get("/v1/runs")).json()["runs"]
    assert runs == [], runs
    rejected = (await client.get("/v1/rejected-events")).json()["rejected_events"]
    assert rejected == [], rejected


@pytest.mark.parametrize("case", sorted(BAD_DATA))
async def test_event_data_json_cannot_carry_is_refused_at_ingest_naming_data(tmp_path: Path, case: str) -> None:
    async with running_plane(tmp_path) as (_cp, client):
        reply = await client.post("/v1/events", content=BAD_DATA[case], headers={**BINARY, "ce-id": case})
        assert reply.status_code == 400, reply.text[:300]
        assert reply.headers["content-type"] == "application/problem+json"
        assert reply.json()["field"] == "data"
        structured = '{"specversion": "1.0", "id": "s", "source": "/shop/eu", "type": "t", "data": '
        reply = await client.post("/v1/events", content=structured + BAD_DATA[case] + "}", headers=STRUCTURED)
        assert reply.status_code == 400, reply.text[:300]
        assert reply.json()["field"] == "data"
        await no_runs(client)


async def test_a_lone_surrogate_in_an_attribute_is_refused_naming_it(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (_cp, client):
        body = '{"specversion": "1.0", "id": "s", "source": "/shop/\\udc00", "type": "com.shop.order.created"}'
        reply = await client.post("/v1/events", content=body, headers=STRUCTURED)
        assert reply.status_code == 400, reply.text[:300]
        assert reply.json()["field"] == "source"
        await no_runs(client)


async def test_http_triggers_and_manual_runs_refuse_them_too(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (_cp, client):
        json_type = {"content-type": "application/json"}
        for case, body in BAD_DATA.items():
            hook = await client.post("/hooks/orders", content=body, headers=json_type)
            assert hook.status_code in (400, 422), (case, hook.text[:300])
            assert hook.json()["field"].startswith(("body", "inputs")), (case, hook.json())
            manual = '{"workflow": "eu_orders", "inputs": ' + body + "}"
            run = await client.post("/v1/runs", content=manual, headers=json_type)
            assert run.status_code in (400, 422), (case, run.text[:300])
            assert run.json()["field"].startswith(("body", "inputs")), (case, run.json())
        await no_runs(client)


async def test_json_data_base64_starts_its_run_on_the_embedded_bus(tmp_path: Path) -> None:
    async with running_plane(tmp_path) as (_cp, client):
        event = {
            "specversion": "1.0",
            "id": "b64",
            "source": "/shop/eu",
            "type": "com.shop.order.created",
            "datacontenttype": "application/json",
            "data_base64": base64.b64encode(json.dumps({"order": "EU-64", "region": "eu"}).encode()).decode(),
        }
        reply = await client.post("/v1/events", content=json.dumps(event), headers=STRUCTURED)
        assert reply.status_code == 202, reply.text
        [run] = await settled_runs(client, "eu_orders", 1)
        assert run["status"] == "succeeded" and run["inputs"] == {"order": "EU-64", "region": "eu"}
