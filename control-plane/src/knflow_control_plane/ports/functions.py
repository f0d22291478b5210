"""The ports of running functions: building an action version, deploying and invoking its function, and
running custom triggers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from knflow.spec import ActionSpec


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
