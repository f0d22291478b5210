"""A fake control plane behind ``httpx.MockTransport``: just enough of ``/v1`` for the CLI's tests."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from knflow.client import Client


def problem(status: int, title: str, detail: str) -> httpx.Response:
    """An RFC 9457 problem reply."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def make_run(run_id: str, status: str, steps: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """A run as the API returns it."""
    run: dict[str, Any] = {
        "id": run_id,
        "project": "default",
        "workflow": "hello",
        "workflow_version": "abc123",
        "status": status,
        "inputs": {},
        "result": None,
        "error": None,
        "trigger": {"kind": "manual"},
        "trace_id": "t1",
        "created_at": "2025-01-01T00:00:00+00:00",
        "finished_at": None,
        "steps": steps or [],
    }
    run.update(extra)
    return run


def make_step(name: str, status: str, **extra: Any) -> dict[str, Any]:
    """A step of a run as the API returns it."""
    step: dict[str, Any] = {
        "name": name,
        "action": name,
        "version": "v1",
        "status": status,
        "outputs": None,
        "error": None,
        "started_at": "2025-01-01T00:00:00+00:00",
        "finished_at": None,
        "attempts": [{"id": f"{name}-1", "number": 1, "status": status}],
    }
    step.update(extra)
    return step


class FakeApi:
    """Records requests; serves scripted runs (each GET of a run returns its next state, then stays)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.bodies: list[Any] = []
        self.workflows: dict[str, dict[str, Any]] = {}
        self.scripts: dict[str, list[dict[str, Any]]] = {}
        self.deploy_status = "ready"
        self.next_run: list[dict[str, Any]] = []

    def script(self, *states: dict[str, Any]) -> None:
        """The states the next started run goes through, one per poll."""
        self.next_run = list(states)

    def client(self, url: str | None = None) -> Client:
        """A client that talks to this fake."""
        return Client(url=url or "http://fake", api_key="k3y", transport=httpx.MockTransport(self.handle))

    def _run(self, run_id: str) -> dict[str, Any]:
        states = self.scripts[run_id]
        return states.pop(0) if len(states) > 1 else states[0]

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Route one request."""
        self.requests.append(request)
        body: Any = json.loads(request.content) if request.content else None
        self.bodies.append(body)
        path, method = request.url.path, request.method
        if path == "/health/readiness":
            return httpx.Response(200, json={"status": "ok"})
        if path == "/v1/workflows" and method == "POST":
            name = body["spec"]["name"]
            self.workflows[name] = body
            return httpx.Response(201, json={"name": name, "version": "v1", "created": True})
        if path == "/v1/workflows":
            rows = [
                {"name": n, "latest_version": "v1", "deployment": None, "deployed_version": None}
                for n in self.workflows
            ]
            return httpx.Response(200, json={"workflows": rows})
        if match := re.fullmatch(r"/v1/workflows/([^/]+)/(deploy|undeploy)", path):
            name, verb = match.groups()
            if name not in self.workflows:
                return problem(404, "Not Found", f"no workflow {name}")
            if verb == "undeploy":
                return httpx.Response(200, json={"workflow": name, "version": "v1", "status": "undeployed"})
            error = None if self.deploy_status == "ready" else "BuildError: pip failed"
            return httpx.Response(
                200, json={"workflow": name, "version": "v1", "status": self.deploy_status, "error": error}
            )
        if path == "/v1/runs" and method == "POST":
            if not self.next_run:
                return problem(404, "Not Found", f"workflow {body['workflow']} is not deployed")
            run_id = self.next_run[0]["id"]
            self.scripts[run_id] = self.next_run
            return httpx.Response(201, json=self.next_run[0])
        if path == "/v1/runs":
            runs = [states[-1] for states in self.scripts.values()]
            return httpx.Response(200, json={"runs": runs, "next_cursor": "c2"})
        if match := re.fullmatch(r"/v1/runs/([^/]+)(?:/(logs|cancel|retry))?", path):
            run_id, verb = match.groups()
            if run_id not in self.scripts:
                return problem(404, "Not Found", f"no run {run_id}")
            if verb == "logs":
                entries = [{"step": "greet", "attempt": 1, "status": "succeeded", "logs": "hello from greet\n"}]
                return httpx.Response(200, json={"run_id": run_id, "logs": entries})
            if verb == "cancel":
                return httpx.Response(200, json={**self.scripts[run_id][-1], "status": "cancelled"})
            if verb == "retry":
                self.scripts[run_id] = self.next_run or self.scripts[run_id]
            return httpx.Response(200, json=self._run(run_id))
        return problem(404, "Not Found", f"{method} {path}")
