"""The ports of the control plane: what the services need, each a ``typing.Protocol``.

The event bus port is ``knflow_eventing.EventBus``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from knflow.spec import ActionSpec

from ..domain.files import FileRecord
from ..domain.model import Outcome
from ..domain.records import Claim, NewRun, Page, RunFilter, RunView, Transition, Worker
from ..domain.rejections import RejectedEvent


class Clock(Protocol):
    """Time, injected so that tests can move it."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...


@dataclass(frozen=True)
class CodeBundle:
    """An action's code as uploaded: files by relative path, and the module its entrypoint names.

    Attributes:
        files: file contents by POSIX relative path (``pipeline.py``, ``helpers/util.py``).
        digest: sha256 of the bundle, its identity in caches.
    """

    files: dict[str, bytes]
    digest: str


@dataclass(frozen=True)
class Artifact:
    """A built action version, ready to deploy.

    Attributes:
        kind: ``venv`` (a local environment) or ``image`` (an OCI image).
        location: the interpreter path of a venv, or ``registry/name@sha256:...`` of an image.
        code_path: a local folder holding the code (venv builds), or None when the image has it.
    """

    kind: str
    location: str
    code_path: str | None = None


@dataclass(frozen=True)
class BuildResult:
    """What a build produced, with its logs."""

    artifact: Artifact
    logs: str


class Builder(Protocol):
    """Turns an action version and its code into an artifact."""

    async def build(self, action: ActionSpec, code: CodeBundle) -> BuildResult:
        """Build (or reuse a cached build of) ``action``.

        Raises:
            BuildFailed: with the build's logs in ``fields["logs"]``.
        """
        ...


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request to a function (the orchestrator encodes the CloudEvent)."""

    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class HttpReply:
    """A function's HTTP reply."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class FunctionStatus:
    """How a deployed function is doing (for deployment status and metrics)."""

    action: str
    version: str
    ready: bool
    instances: int = 0
    url: str | None = None
    message: str = ""
    details: dict[str, str] = field(default_factory=dict)


class FunctionBackend(Protocol):
    """Runs functions: one per deployed action version."""

    async def deploy(self, action: ActionSpec, artifact: Artifact) -> FunctionStatus:
        """Make the function invocable (it may still be scaled to zero).

        Raises:
            DeployFailed: with the reason.
        """
        ...

    async def undeploy(self, action: str, version: str) -> None:
        """Remove the function; a no-op when it is not deployed."""
        ...

    async def invoke(self, action: str, version: str, request: HttpRequest, timeout: float) -> HttpReply:
        """POST ``request`` to the function, starting an instance if none runs (cold start).

        Raises:
            FunctionUnavailable: when the function cannot be reached or its process died.
        """
        ...

    async def status(self, action: str, version: str) -> FunctionStatus:
        """The function's current state."""
        ...

    async def close(self) -> None:
        """Stop everything this backend started."""
        ...


@runtime_checkable
class RequestLimited(Protocol):
    """A backend whose platform cuts requests off after a while (Knative's max revision timeout).

    An attempt that may outlast the limit is invoked in async reply mode (DESIGN.md section 4).
    """

    @property
    def request_limit(self) -> float:
        """Seconds one request to a function may take."""
        ...


@runtime_checkable
class LoadChecking(Protocol):
    """A backend that can import an action where it will run, without serving it: a deploy's proof."""

    async def check_load(self, action: ActionSpec, artifact: Artifact) -> dict[str, Any]:
        """Import the action in its runtime environment and return its signature as the runtime sees it
        (``name``, ``version``, ``inputs``, ``output``, ``var_keyword``, ``is_async``, as in its spec).

        Raises:
            ActionLoadFailed: it cannot be imported (the user's exception and traceback in its fields).
            DeployFailed: the check could not run.
        """
        ...


@runtime_checkable
class Preflighted(Protocol):
    """A backend whose platform can say, before anything is built, whether it would take a function."""

    async def preflight(self, action: ActionSpec) -> None:
        """Have the platform admit the function of ``action`` without running it.

        Raises:
            DeployFailed: the platform refuses it (its own reason in the message).
        """
        ...


@runtime_checkable
class GarbageCollecting(Protocol):
    """A backend that can delete the functions of action versions nothing uses any more."""

    async def collect_garbage(self, keep: Iterable[tuple[str, str]]) -> list[str]:
        """Delete every function whose ``(action, version)`` is not in ``keep``; the names deleted."""
        ...


class ReplyStore(Protocol):
    """What async reply mode reads and writes beside the run store's transitions."""

    async def attempt(self, attempt_id: str) -> tuple[str, Claim] | None:
        """The attempt's status and what it was claimed with; None when there is no such attempt."""
        ...

    async def finished(self, attempt_ids: list[str]) -> dict[str, Outcome]:
        """The outcomes recorded for those of ``attempt_ids`` that are no longer running."""
        ...

    async def hold_leases(self, worker: str, holds: list[tuple[str, str, float]]) -> int:
        """Set the leases ``worker`` holds on steps ``(run_id, step, until)``; how many it still holds."""
        ...


class SourceRunner(Protocol):
    """Runs custom triggers (``@trigger``): long-running functions that post events to a sink."""

    async def start(self, key: str, action: ActionSpec, artifact: Artifact, env: dict[str, str]) -> None:
        """Run the trigger's function under ``key`` (a no-op when it runs already); ``env`` holds ``K_SINK``."""
        ...

    async def stop(self, key: str) -> None:
        """Stop the function started under ``key``; a no-op when none runs."""
        ...

    def running(self) -> set[str]:
        """The keys of the functions this runner keeps running."""
        ...

    async def close(self) -> None:
        """Stop every function."""
        ...


class RunStore(Protocol):
    """Where runs and the catalogue live; each call is one transaction. Times are epoch seconds."""

    async def create_run(self, new: NewRun, now: float, worker: Worker | None = None) -> Transition: ...
    async def complete(
        self, run_id: str, step: str, attempt_id: str, outcome: Outcome, now: float, worker: Worker | None = None
    ) -> Transition: ...
    async def claim_ready(self, now: float, worker: Worker) -> list[Transition]: ...
    async def expire_leases(self, now: float, worker: Worker) -> list[Transition]: ...
    async def expire_runs(self, now: float) -> list[Transition]: ...
    async def cancel_run(self, run_id: str, now: float, project: str) -> Transition | None: ...
    async def keep_logs(self, attempt_id: str, logs: str) -> None: ...
    async def retry_run(self, run_id: str, now: float, project: str, step: str | None = None) -> Transition | None: ...
    async def renew_leases(self, worker: str, keys: list[tuple[str, str]], until: float) -> int: ...
    async def next_due(self) -> float | None: ...
    async def get_run(self, run_id: str, project: str | None = None) -> RunView | None: ...
    async def run_status(self, run_id: str) -> tuple[str, Any, Any] | None: ...
    async def finished_among(self, run_ids: list[str]) -> set[str]: ...
    async def in_project(self, run_ids: list[str], project: str) -> set[str]: ...
    async def list_runs(self, where: RunFilter) -> Page: ...
    async def record_files(self, records: list[FileRecord]) -> None: ...
    async def list_files(self, run_id: str, project: str) -> list[FileRecord]: ...
    async def get_file(self, key: str, project: str) -> FileRecord | None: ...
    async def files_created_before(self, project: str, before: float, limit: int) -> list[FileRecord]: ...
    async def mark_files_expired(self, keys: list[str], now: float) -> None: ...
    async def probe(self, project: str) -> None: ...
    async def ensure_project(self, project: str, now: float) -> None: ...
    async def put_action_version(
        self, project: str, spec: dict[str, Any], code: bytes | None, code_digest: str | None, now: float
    ) -> bool: ...
    async def get_action_version(
        self, project: str, name: str, version: str | None = None
    ) -> dict[str, Any] | None: ...
    async def set_build(
        self, project: str, name: str, version: str, status: str, logs: str, artifact: dict[str, Any] | None, now: float
    ) -> None: ...
    async def list_actions(self, project: str) -> list[dict[str, Any]]: ...
    async def delete_action(self, project: str, name: str) -> int: ...
    async def put_workflow(self, project: str, spec: dict[str, Any], version: str, now: float) -> bool: ...
    async def get_workflow(self, project: str, name: str, version: str | None = None) -> dict[str, Any] | None: ...
    async def list_workflows(self, project: str) -> list[dict[str, Any]]: ...
    async def workflow_history(self, project: str, name: str) -> list[dict[str, Any]]: ...
    async def delete_workflow(self, project: str, name: str) -> bool: ...
    async def set_deployment(
        self,
        project: str,
        workflow: str,
        version: str,
        status: str,
        error: str | None,
        now: float,
        source: str | None = None,
    ) -> None: ...
    async def get_deployment(self, project: str, workflow: str) -> dict[str, Any] | None: ...
    async def replace_routes(
        self, project: str, workflow: str, version: str, triggers: list[dict[str, Any]]
    ) -> list[str]: ...
    async def delete_routes(self, project: str, workflow: str) -> None: ...
    async def find_route(self, project: str, method: str, path: str) -> dict[str, Any] | None: ...
    async def routes_for_path(self, project: str, path: str) -> list[str]: ...
    async def replace_triggers(
        self,
        project: str,
        workflow: str,
        version: str,
        events: list[dict[str, Any]],
        crons: list[dict[str, Any]],
        now: float,
    ) -> None: ...
    async def delete_triggers(self, project: str, workflow: str) -> None: ...
    async def list_schedules(self, project: str) -> list[dict[str, Any]]: ...
    async def advance_schedule(self, project: str, workflow: str, position: int, tick: float) -> None: ...
    async def list_event_triggers(self, project: str) -> list[dict[str, Any]]: ...
    async def take_outbox(self, limit: int) -> list[dict[str, Any]]: ...
    async def mark_published(self, ids: list[int], now: float) -> None: ...
    async def prune_outbox(self, published_before: float) -> int: ...
    async def record_rejected(self, rejected: list[RejectedEvent]) -> None: ...
    async def list_rejected(
        self, project: str, *, workflow: str | None = None, limit: int = 50, before: int | None = None
    ) -> list[RejectedEvent]: ...
    async def acquire_lease(self, name: str, holder: str, now: float, ttl: float) -> bool: ...
    async def release_lease(self, name: str, holder: str) -> None: ...
    async def close(self) -> None: ...


class InvokeSpan(Protocol):
    """The span of one invocation: the ``traceparent`` to send, and the reply to note on it."""

    @property
    def traceparent(self) -> str | None:
        """The W3C trace context naming this span as the function's parent."""
        ...

    def reply(self, reply: HttpReply) -> None:
        """Note the function's HTTP reply on the span."""
        ...


class RunTracer(Protocol):
    """Spans of runs, attempts and invocations (``observability.tracing``); absent when tracing is off,
    so that the orchestrator then does no tracing work at all."""

    def adopt(self, new: NewRun) -> NewRun:
        """``new`` joined to the trace of the request starting it (its trace id, the trigger's span id)."""
        ...

    def start_attempt(self, claim: Claim) -> object | None:
        """Start the attempt's span (current in this task until :meth:`end_attempt`)."""
        ...

    def end_attempt(self, handle: object, outcome: Outcome | None) -> None:
        """End the span :meth:`start_attempt` returned, once the outcome is recorded."""
        ...

    def invoke(self, claim: Claim) -> AbstractContextManager[InvokeSpan]:
        """The client span around one invocation of the claim's function."""
        ...

    def run_finished(self, transition: Transition) -> None:
        """Export the run's span if ``transition`` finished the run."""
        ...


class AccessStore(Protocol):
    """API keys (hashed) and secrets (encrypted) of every project."""

    async def put_api_key(self, record: dict[str, Any]) -> None: ...
    async def find_api_key(self, key_hash: str) -> dict[str, Any] | None: ...
    async def list_api_keys(self, project: str) -> list[dict[str, Any]]: ...
    async def revoke_api_key(self, project: str, key_id: str, now: float) -> bool: ...
    async def put_secret(self, project: str, name: str, ciphertext: bytes, now: float) -> bool: ...
    async def get_secrets(self, project: str, names: list[str]) -> dict[str, bytes]: ...
    async def list_secrets(self, project: str) -> list[dict[str, Any]]: ...
    async def delete_secret(self, project: str, name: str) -> bool: ...


#: the plain values of a project's named secrets (raises when one is not set)
SecretValues = Callable[[list[str]], Awaitable[dict[str, str]]]
#: copies the named secrets (those that are set) to where the functions read them (see SecretMirror)
SecretSync = Callable[[list[str]], Awaitable[None]]


class SecretMirror(Protocol):
    """Where the functions of a backend read the project's secrets, when not from the control plane itself
    (the knative backend: one Kubernetes Secret, a key per secret). Values are never logged."""

    async def put(self, values: dict[str, str]) -> None:
        """Set these keys (creating the store if needed), leaving the others as they are."""
        ...

    async def remove(self, name: str) -> None:
        """Remove one key (nothing when it or the store is not there)."""
        ...


class Cipher(Protocol):
    """Encrypts secret values at rest."""

    def encrypt(self, plain: bytes) -> bytes: ...
    def decrypt(self, token: bytes) -> bytes: ...
