"""The API client: URLs, auth, problem+json errors, connection failures and waiting."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from knflow import rest
from knflow.client import DEFAULT_URL, ApiError, Client, ConnectionFailed, WaitTimeoutError

from .fake_api import FakeApi, make_run


def test_url_and_api_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNFLOW_URL", "http://cp.example:9000/")
    monkeypatch.setenv("KNFLOW_API_KEY", "s3cret")
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"workflows": []})

    with Client(transport=httpx.MockTransport(handler)) as client:
        assert client.url == "http://cp.example:9000"
        assert client.list_workflows() == []
    assert str(seen[0].url) == "http://cp.example:9000/v1/workflows"
    assert seen[0].headers["authorization"] == "Bearer s3cret"


def test_defaults_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KNFLOW_URL", raising=False)
    monkeypatch.delenv("KNFLOW_API_KEY", raising=False)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "ok"})

    client = Client(transport=httpx.MockTransport(handler))
    assert client.url == DEFAULT_URL
    assert client.health() is True
    assert "authorization" not in seen[0].headers


def test_register_sends_the_spec_and_base64_files() -> None:
    fake = FakeApi()
    client = fake.client()
    answer = client.register_workflow({"name": "hello", "steps": []}, {"flow.py": b"print('hi')\n"})
    assert answer == rest.Registered(name="hello", version="v1", created=True)
    sent = fake.bodies[-1]
    assert sent["spec"] == {"name": "hello", "steps": []}
    assert base64.b64decode(sent["code"]["files"]["flow.py"]) == b"print('hi')\n"
    client.register_workflow({"name": "bare"})
    assert fake.bodies[-1]["code"] is None


def test_problem_json_becomes_api_error() -> None:
    client = FakeApi().client()
    with pytest.raises(ApiError) as caught:
        client.get_run("nope")
    error = caught.value
    assert (error.status, error.title, error.detail) == (404, "Not Found", "no run nope")
    assert error.body["type"] == "about:blank"
    assert str(error) == "404 Not Found: no run nope"


def test_non_json_error_keeps_the_text() -> None:
    client = Client("http://x", transport=httpx.MockTransport(lambda r: httpx.Response(502, text="bad gateway")))
    with pytest.raises(ApiError) as caught:
        client.list_runs()
    assert caught.value.status == 502
    assert "bad gateway" in str(caught.value)
    assert client.health() is False


def test_connection_refused_names_the_url_and_knflow_dev() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = Client("http://127.0.0.1:1", transport=httpx.MockTransport(refuse))
    with pytest.raises(ConnectionFailed) as caught:
        client.get_run("r1")
    assert isinstance(caught.value, ApiError)
    assert "http://127.0.0.1:1" in str(caught.value)
    assert "knflow dev" in str(caught.value)
    assert client.health() is False


def test_list_runs_sends_only_given_filters() -> None:
    fake = FakeApi()
    page = fake.client().list_runs(workflow="hello", limit=5)
    assert page.next_cursor == "c2"
    assert dict(fake.requests[-1].url.params) == {"workflow": "hello", "limit": "5"}


def test_wait_polls_until_the_run_finishes() -> None:
    fake = FakeApi()
    fake.script(make_run("r1", "running"), make_run("r1", "running"), make_run("r1", "succeeded", result=3))
    client = fake.client()
    started = client.start_run("hello", {"n": 1})
    assert fake.bodies[-1] == {"workflow": "hello", "inputs": {"n": 1}, "version": None}
    seen: list[str] = []
    final = client.wait(started.id, timeout=5, poll=0.01, on_poll=lambda run: seen.append(run.status))
    assert final.result == 3
    assert seen == ["running", "running", "succeeded"]


def test_wait_times_out() -> None:
    fake = FakeApi()
    fake.script(make_run("r1", "running"))
    client = fake.client()
    client.start_run("hello")
    with pytest.raises(WaitTimeoutError) as caught:
        client.wait("r1", timeout=0.05, poll=0.01)
    assert caught.value.run.status == "running"
    assert isinstance(caught.value, TimeoutError)


def test_run_and_workflow_verbs_hit_their_endpoints() -> None:
    fake = FakeApi()
    fake.script(make_run("r1", "failed"))
    client = fake.client()
    client.register_workflow({"name": "hello"})
    assert client.deploy("hello").status == "ready"
    assert client.undeploy("hello").status == "undeployed"
    client.start_run("hello")
    assert client.cancel("r1").status == "cancelled"
    assert client.retry("r1").id == "r1"
    assert client.logs("r1").logs[0].step == "greet"
    assert client.list_workflows()[0].name == "hello"
    paths = [(r.method, r.url.path) for r in fake.requests]
    assert ("POST", "/v1/workflows/hello/deploy") in paths
    assert ("POST", "/v1/runs/r1/cancel") in paths
    assert ("POST", "/v1/runs/r1/retry") in paths
    assert ("GET", "/v1/runs/r1/logs") in paths


def test_deploy_sends_its_source_and_falls_back_for_a_plane_that_does_not_know_sources() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if "source" in body:  # an older control plane: the field is unknown to it
            problem = {"title": "Invalid request", "status": 422, "detail": "source: extra", "field": "source"}
            return httpx.Response(422, json=problem, headers={"content-type": "application/problem+json"})
        return httpx.Response(200, json={"workflow": "w", "version": "v1", "status": "ready"})

    with Client(transport=httpx.MockTransport(handler)) as client:
        deployed = client.deploy("w", source="/home/ada/flow.py")
    assert deployed.status == "ready"
    assert bodies == [{"version": None, "source": "/home/ada/flow.py", "replace": False}, {"version": None}]
