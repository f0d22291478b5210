"""Invoking a runtime over real HTTP: results, contract errors (400s), health and routing."""

from __future__ import annotations

import json

import httpx
import pytest
from tests.e2e.runtime.runtime_support import deadline, decode, invoke, invoke_request, new_run

from knflow.wire import SUCCEEDED

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_sync_action_succeeds_with_outputs_logs_and_trace(client: httpx.AsyncClient, greet_url: str) -> None:
    run = new_run()
    headers, body = invoke_request({"name": "ada", "times": 2}, run_id=run, step="hello", traceparent=TRACEPARENT)
    response = await client.post(greet_url + "/", headers=headers, content=body)

    assert response.status_code == 200
    assert response.headers["ce-type"] == SUCCEEDED
    assert response.headers["ce-source"] == "/functions/greet"
    assert response.headers["ce-subject"] == "hello"
    assert response.headers["ce-id"] == f"{run}/hello/1"
    assert response.headers["ce-traceparent"] == TRACEPARENT
    event_type, data, invoke_id = decode(response.headers, response.content)
    assert (event_type, invoke_id) == (SUCCEEDED, f"{run}/hello/1")
    assert data["outputs"] == {"greeting": "hello adahello ada"}
    assert "greeting ada\n" in data["logs"]
    assert "INFO fixture: greeted ada" in data["logs"]


async def test_defaults_are_filled(client: httpx.AsyncClient, greet_url: str) -> None:
    event_type, data = await invoke(client, greet_url, {"name": "bo"})
    assert event_type == SUCCEEDED
    assert data["outputs"] == {"greeting": "hello bo"}


@pytest.mark.parametrize(
    ("inputs", "field", "detail"),
    [
        ({"name": "x", "colour": "red"}, "colour", "unknown input"),
        ({"name": 42}, "name", "expected string, got integer"),
        ({"times": 2}, "name", "missing required input"),
        ({"name": "x", "times": "2"}, "times", "expected integer, got string"),
    ],
)
async def test_invalid_inputs_are_400_naming_the_field(
    client: httpx.AsyncClient, greet_url: str, inputs: dict[str, object], field: str, detail: str
) -> None:
    headers, body = invoke_request(inputs)
    response = await client.post(greet_url + "/", headers=headers, content=body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    assert problem["title"] == "invalid input"
    assert problem["field"] == field
    assert detail in problem["detail"]


def _with(headers: dict[str, str], **changes: str | None) -> dict[str, str]:
    updated = dict(headers)
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            updated.pop(key, None)
        else:
            updated[key] = value
    return updated


MALFORMED: list[tuple[dict[str, str | None], bytes | None, str]] = [
    ({}, b'{"inputs": {"name": ', "data"),  # bad JSON
    ({}, b'["not", "an", "object"]', "data"),
    ({}, json.dumps({"deadline": deadline(5)}).encode(), "data.inputs"),
    ({}, json.dumps({"inputs": {"name": "x"}}).encode(), "data.deadline"),
    ({}, json.dumps({"inputs": {"name": "x"}, "deadline": "tomorrow"}).encode(), "data.deadline"),
    ({"ce_specversion": None}, None, "ce-specversion"),  # not a CloudEvent
    ({"ce_type": "dev.knflow.step.succeeded"}, None, "ce-type"),
    ({"ce_id": None}, None, "ce-id"),
    ({"ce_source": "/elsewhere/1"}, None, "ce-source"),
    ({"content_type": "text/plain"}, None, "content-type"),
]


# Named by the field: a deadline in an id would differ between the two xdist workers' collections.
@pytest.mark.parametrize(("change", "body", "field"), MALFORMED, ids=[field for _, _, field in MALFORMED])
async def test_malformed_events_are_400_naming_what_is_wrong(
    client: httpx.AsyncClient, greet_url: str, change: dict[str, str | None], body: bytes | None, field: str
) -> None:
    headers, good_body = invoke_request({"name": "x"})
    response = await client.post(greet_url + "/", headers=_with(headers, **change), content=body or good_body)
    assert response.status_code == 400
    assert response.json()["field"] == field
    # The process keeps serving after each of them.
    event_type, _ = await invoke(client, greet_url, {"name": "still here"})
    assert event_type == SUCCEEDED


async def test_plain_request_is_not_a_cloudevent(client: httpx.AsyncClient, greet_url: str) -> None:
    response = await client.post(greet_url + "/", json={"name": "x"})
    assert response.status_code == 400
    assert response.json() == {
        "title": "malformed invoke event",
        "status": 400,
        "detail": "ce-specversion: missing: not a CloudEvent in HTTP binary mode",
        "field": "ce-specversion",
    }


async def test_health_and_routing(client: httpx.AsyncClient, greet_url: str) -> None:
    live = await client.get(greet_url + "/health/liveness")
    ready = await client.get(greet_url + "/health/readiness?probe=1")
    missing = await client.get(greet_url + "/nope")
    wrong_method = await client.get(greet_url + "/")
    wrong_method_health = await client.post(greet_url + "/health/readiness")

    assert live.status_code == 200
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "action": "greet"}
    assert missing.status_code == 404
    assert missing.json()["status"] == 404
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert wrong_method_health.status_code == 405
    assert wrong_method_health.headers["allow"] == "GET"


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient, greet_url: str) -> None:
    headers, _ = invoke_request({"name": "x"})
    body = json.dumps({"inputs": {"name": "x" * 70_000}, "deadline": deadline(5)}).encode()
    response = await client.post(greet_url + "/", headers=headers, content=body)
    assert response.status_code == 413
    assert response.json()["title"] == "request too large"
    assert response.headers["connection"] == "close"
