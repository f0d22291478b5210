"""A synchronous client of the knflow control plane's REST API (``/v1``).

The CLI is sync code, so this client is too. It speaks JSON and turns RFC 9457 problem bodies into
:class:`ApiError`; a control plane that does not answer becomes :class:`ConnectionFailed`.

Example::

    with Client() as client:
        run = client.start_run("thumbnails", {"url": "https://example.com/cat.png"})
        run = client.wait(run.id, timeout=60)

Replies are the typed models of :mod:`knflow.rest` (the ones the control plane declares in its OpenAPI).
"""

from __future__ import annotations

import base64
import json as json_module
import os
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from . import rest
from ._client_access import AccessCalls
from ._client_errors import ApiError, ConnectionFailed, WaitTimeoutError, problem_of
from ._client_files import FileCalls
from ._client_projects import PROJECT_HEADER, ProjectCalls
from .spec import WorkflowSpec

DEFAULT_URL = "http://127.0.0.1:8080"
TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})

JSON = dict[str, Any]
M = TypeVar("M", bound=rest.Reply)

__all__ = ["DEFAULT_URL", "JSON", "TERMINAL_STATUSES", "ApiError", "Client", "ConnectionFailed", "WaitTimeoutError"]


class Client(ProjectCalls, AccessCalls, FileCalls):
    """A client of one control plane.

    Args:
        url: the control plane's base URL; defaults to ``$KNFLOW_URL``, else ``http://127.0.0.1:8080``.
        api_key: sent as ``Authorization: Bearer``; defaults to ``$KNFLOW_API_KEY``.
        project: the project to act in, sent as ``X-Knflow-Project`` (an operator's key, or a plane with
            keys off; a project's own key acts in its project); defaults to ``$KNFLOW_PROJECT``, else none
            (the key's project, or the plane's default).
        timeout: seconds for each HTTP request.
        transport: an httpx transport to use instead of the network (tests use ``httpx.MockTransport``).
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        timeout: float = 30.0,
        project: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
    ):
        self.url = (url or os.environ.get("KNFLOW_URL") or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get("KNFLOW_API_KEY")
        headers = {"Accept": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.project = project if project is not None else os.environ.get("KNFLOW_PROJECT") or None
        if self.project:
            headers[PROJECT_HEADER] = self.project
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(self, method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, json=json, params=query)
        except httpx.ConnectError as exc:
            raise ConnectionFailed(self.url, str(exc)) from exc
        except httpx.TimeoutException as exc:
            raise ApiError(f"{method} {self.url}{path} timed out", detail=str(exc)) from exc
        except httpx.HTTPError as exc:
            raise ApiError(f"{method} {self.url}{path} failed: {exc}", detail=str(exc)) from exc
        if response.status_code >= 400:
            raise problem_of(response)
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(
                f"{method} {path}: the server did not answer JSON", status=response.status_code, body=response.text
            ) from exc

    def _typed(
        self, model: type[M], method: str, path: str, *, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> M:
        body = self._request(method, path, json=json, params=params)
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise ApiError(f"{method} {path}: unexpected reply: {exc}".splitlines()[0], body=body) from exc

    # --- health ---------------------------------------------------------------------------------

    def health(self) -> bool:
        """Whether the control plane is up and ready (``GET /health/readiness`` answers 2xx)."""
        try:
            self._request("GET", "/health/readiness")
        except ApiError:
            return False
        return True

    # --- workflows ------------------------------------------------------------------------------

    def register_workflow(
        self, spec: WorkflowSpec | Mapping[str, Any], files: Mapping[str, bytes] | None = None
    ) -> rest.Registered:
        """Register a workflow version with its code bundle.

        Args:
            spec: the workflow spec (a model or its JSON dict).
            files: the code bundle, relative POSIX path -> content; ``None`` for none.

        Returns:
            ``{"name", "version", "created"}``.

        Raises:
            ApiError: when the control plane refuses the spec.
        """
        spec_json = spec.model_dump(mode="json") if isinstance(spec, WorkflowSpec) else dict(spec)
        code = None
        if files is not None:
            code = {"files": {path: base64.b64encode(data).decode("ascii") for path, data in files.items()}}
        return self._typed(rest.Registered, "POST", "/v1/workflows", json={"spec": spec_json, "code": code})

    def list_workflows(self) -> list[rest.WorkflowSummary]:
        """Every workflow, with its latest version and deployment."""
        return self._typed(rest.WorkflowList, "GET", "/v1/workflows").workflows

    def get_workflow(self, name: str) -> rest.Workflow:
        """A workflow's latest version with its spec and deployment."""
        return self._typed(rest.Workflow, "GET", f"/v1/workflows/{name}")

    def get_workflow_version(self, name: str, version: str) -> rest.WorkflowVersion:
        """One version of a workflow with its spec."""
        return self._typed(rest.WorkflowVersion, "GET", f"/v1/workflows/{name}/versions/{version}")

    def get_triggers(self, name: str) -> rest.WorkflowTriggers:
        """A workflow's triggers: enabled or not, the HTTP hook's path, each schedule's next fire time."""
        return self._typed(rest.WorkflowTriggers, "GET", f"/v1/workflows/{name}/triggers")

    def deploy(
        self, name: str, version: str | None = None, *, source: str | None = None, replace: bool = False
    ) -> rest.Deployment:
        """Deploy a workflow (its latest version unless ``version``); a failed build is ``status="failed"``.

        ``source`` names the file it comes from: deploying a workflow deployed from another file is refused
        (409, ``field: source``) unless ``replace``.
        """
        body = {"version": version, "source": source, "replace": replace}
        try:
            return self._typed(rest.Deployment, "POST", f"/v1/workflows/{name}/deploy", json=body)
        except ApiError as exc:
            older = exc.status == 422 and isinstance(exc.body, dict) and exc.body.get("field") == "source"
            if not older:
                raise
        # A control plane older than deployment sources refuses the field: deploy as it knows how.
        return self._typed(rest.Deployment, "POST", f"/v1/workflows/{name}/deploy", json={"version": version})

    def rollback(self, name: str, version: str | None = None) -> rest.Deployment:
        """Deploy ``version`` again, by default the version registered before the deployed one; runs in
        progress keep their own versions."""
        body = {"version": version}  # checked by the control plane, which names the field when it is wrong
        return self._typed(rest.Deployment, "POST", f"/v1/workflows/{name}/rollback", json=body)

    def undeploy(self, name: str) -> rest.Deployment:
        """Stop serving a workflow (``status="undeployed"``)."""
        return self._typed(rest.Deployment, "POST", f"/v1/workflows/{name}/undeploy")

    def get_deployment(self, name: str) -> rest.Deployment:
        """A workflow's current deployment."""
        return self._typed(rest.Deployment, "GET", f"/v1/workflows/{name}/deployment")

    # --- runs -----------------------------------------------------------------------------------

    def start_run(self, workflow: str, inputs: Mapping[str, Any] | None = None, version: str | None = None) -> rest.Run:
        """Start a run of ``workflow`` and return it (status ``running``)."""
        body = rest.RunRequest(workflow=workflow, inputs=dict(inputs or {}), version=version)
        return self._typed(rest.Run, "POST", "/v1/runs", json=body.model_dump(mode="json"))

    def get_run(self, run_id: str, *, outputs: bool = True) -> rest.Run:
        """A run with its steps and their attempts; ``outputs=False``: the light view, without steps' outputs,
        attempts' inputs, outputs and logs, and with a large ``inputs``/``result`` left out (their sizes in
        ``omitted``), read without fetching anything from the object store."""
        params = None if outputs else {"outputs": "false"}
        return self._typed(rest.Run, "GET", f"/v1/runs/{run_id}", params=params)

    def get_step(self, run_id: str, step: str) -> rest.Step:
        """One step of a run in full: outputs, attempts with their inputs, outputs and logs, map counts."""
        return self._typed(rest.Step, "GET", f"/v1/runs/{run_id}/steps/{step}")

    def list_runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        waiting: bool | None = None,
        top_level: bool = False,
        parent_run_id: str | None = None,
    ) -> rest.RunPage:
        """One page of runs, newest first, and the cursor of the next one; ``waiting=True`` keeps the runs
        with a waiting step (an approval, a sleep), ``False`` those without one; ``top_level`` leaves child
        runs out, ``parent_run_id`` lists only that run's children."""
        params: dict[str, Any] = {"workflow": workflow, "status": status, "limit": limit, "cursor": cursor}
        params["waiting"] = waiting
        if top_level:
            params["top_level"] = "true"
        if parent_run_id is not None:
            params["parent_run_id"] = parent_run_id
        return self._typed(rest.RunPage, "GET", "/v1/runs", params=params)

    def items(
        self,
        run_id: str,
        step: str,
        *,
        status: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> rest.MapItemPage:
        """One page of the items of the map step ``step`` of a run, in index order, and the next cursor."""
        params = {"status": status, "limit": limit, "cursor": cursor}
        return self._typed(rest.MapItemPage, "GET", f"/v1/runs/{run_id}/steps/{step}/items", params=params)

    def logs(self, run_id: str) -> rest.RunLogs:
        """What each attempt of a run printed."""
        return self._typed(rest.RunLogs, "GET", f"/v1/runs/{run_id}/logs")

    def follow_logs(self, run_id: str) -> Iterator[JSON]:
        """A run's output as it is written: ``{"step", "attempt", "status", "text"}`` objects, then
        ``{"run_id", "status", "end": True}`` once the run is finished (``GET .../logs?follow=true``).

        Raises:
            ApiError: no such run, or the connection failed.
        """
        path = f"/v1/runs/{run_id}/logs"
        timeout = httpx.Timeout(self._http.timeout.connect or 30.0, read=None)  # quiet steps send nothing
        try:
            with self._http.stream("GET", path, params={"follow": "true"}, timeout=timeout) as response:
                if response.status_code >= 400:
                    response.read()
                    raise problem_of(response)
                for line in response.iter_lines():
                    if line.strip():
                        yield json_module.loads(line)
        except httpx.ConnectError as exc:
            raise ConnectionFailed(self.url, str(exc)) from exc
        except httpx.HTTPError as exc:
            raise ApiError(f"GET {self.url}{path} failed: {exc}", detail=str(exc)) from exc

    def cancel(self, run_id: str) -> rest.Run:
        """Cancel a running run; returns the run."""
        return self._typed(rest.Run, "POST", f"/v1/runs/{run_id}/cancel")

    def retry(self, run_id: str, *, step: str | None = None, latest: bool = False) -> rest.Run:
        """Retry a finished run from its failed steps, or from ``step`` and everything downstream of it
        (even when they succeeded); returns the run. ``latest``: start a new run of the version deployed
        now with the run's inputs instead, and return that one."""
        wanted = step is not None or latest
        body = rest.RetryRequest(step=step, latest=latest).model_dump(exclude_defaults=True) if wanted else None
        return self._typed(rest.Run, "POST", f"/v1/runs/{run_id}/retry", json=body)

    def decide(self, run_id: str, step: str, *, approve: bool, comment: str | None = None) -> rest.Run:
        """Approve (or reject) the waiting approval ``step`` of a run, with an optional ``comment``; returns the run."""
        body = rest.DecisionRequest(comment=comment).model_dump(exclude_none=True)
        verb = "approve" if approve else "reject"
        return self._typed(rest.Run, "POST", f"/v1/runs/{run_id}/steps/{step}/{verb}", json=body)

    def changes(self, run_id: str | None = None) -> Iterator[rest.RunChange]:
        """The live feed (``GET /v1/stream``) of every run, or of ``run_id``, for one stream's life (the
        server ends each after about 10 s: call again to go on). The first change is ``kind="hello"``.

        Raises:
            ApiError: the control plane refused (no such run: 404) or the connection failed.
        """
        params = {"run_id": run_id} if run_id is not None else None
        try:
            with self._http.stream("GET", "/v1/stream", params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    raise problem_of(response)
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        yield rest.RunChange.model_validate_json(line[6:])
        except httpx.HTTPError as exc:
            raise ApiError(f"GET {self.url}/v1/stream failed: {exc}", detail=str(exc)) from exc

    def rejected_events(
        self, *, workflow: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> rest.RejectedEvents:
        """Trigger events that started no run, newest first, and the cursor of the next page."""
        params = {"workflow": workflow, "limit": limit, "cursor": cursor}
        return self._typed(rest.RejectedEvents, "GET", "/v1/rejected-events", params=params)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(f"{method} {self.url}{path} failed: {exc}", detail=str(exc)) from exc
        if response.status_code >= 400:
            raise problem_of(response)
        return response

    def wait(
        self,
        run_id: str,
        timeout: float | None = None,
        poll: float = 0.15,
        *,
        on_poll: Callable[[rest.Run], None] | None = None,
    ) -> rest.Run:
        """Poll a run until it succeeds, fails or is cancelled.

        Args:
            run_id: the run.
            timeout: seconds to wait at most; ``None`` waits for ever.
            poll: seconds between two polls.
            on_poll: called with the run after every poll (the CLI shows progress with it).

        Returns:
            the finished run.

        Raises:
            WaitTimeoutError: when ``timeout`` passes first.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if on_poll is not None:
                on_poll(run)
            if run.status in TERMINAL_STATUSES:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeoutError(run, timeout or 0.0)
            remaining = poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic()))
            time.sleep(remaining)
