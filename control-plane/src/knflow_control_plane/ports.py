"""The ports of the control plane: what the services need, each a small ``typing.Protocol``.

The run store's port lives in :mod:`knflow_control_plane.service.store_port` (it is large enough to
deserve its own module); the event bus port is ``knflow_eventing.EventBus``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from knflow.spec import ActionSpec


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
