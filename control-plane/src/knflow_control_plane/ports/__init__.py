"""The ports of the control plane: what the services need, each a ``typing.Protocol``.

One module per concern: :mod:`.store` (the run store, in ports sized by their consumers),
:mod:`.functions` (builders, function backends, custom triggers), :mod:`.access` (API keys and secrets),
:mod:`.objects` (the object store); this module holds the small ones and names them all. The event bus
port is ``knflow_eventing.EventBus``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from ..domain.model import Outcome
from ..domain.records import Claim, NewRun, Transition
from .access import AccessStore, Cipher, SecretMirror, SecretSync, SecretValues
from .functions import (
    Artifact,
    Builder,
    BuildResult,
    CodeBundle,
    FunctionBackend,
    FunctionStatus,
    GarbageCollecting,
    HttpReply,
    HttpRequest,
    LoadChecking,
    Preflighted,
    RequestLimited,
    SourceRunner,
)
from .store import (
    CatalogueStore,
    ChildRunStore,
    EventWaitStore,
    FileRecords,
    Leases,
    Outbox,
    ProjectAdmin,
    Projects,
    RejectedEvents,
    RunReads,
    RunStarter,
    RunStore,
    RunTransitions,
    TriggerStore,
    WorkflowStore,
)

__all__ = [
    "AccessStore",
    "EventWaitStore",
    "Artifact",
    "BuildResult",
    "Builder",
    "CatalogueStore",
    "ChildRunStore",
    "Cipher",
    "Clock",
    "CodeBundle",
    "FileRecords",
    "FunctionBackend",
    "FunctionStatus",
    "GarbageCollecting",
    "HttpReply",
    "HttpRequest",
    "InvokeSpan",
    "Leases",
    "LoadChecking",
    "Outbox",
    "Preflighted",
    "ProjectAdmin",
    "Projects",
    "RejectedEvents",
    "ReplyStore",
    "RequestLimited",
    "RunReads",
    "RunStarter",
    "RunStore",
    "RunTracer",
    "RunTransitions",
    "SecretMirror",
    "SecretSync",
    "SecretValues",
    "SourceRunner",
    "TriggerStore",
    "WorkflowStore",
]


class Clock(Protocol):
    """Time, injected so that tests can move it."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
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
