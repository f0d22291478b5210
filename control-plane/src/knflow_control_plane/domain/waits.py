"""Steps that wait without a worker (``knflow.dev/v2`` approvals): what they record when they start
waiting and when they end. No I/O; :mod:`.planner` applies these as facts (:class:`~.transitions.ApprovalDecided`,
:class:`~.transitions.TimerFired`) arrive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .transitions import ApprovalDecided, Step, TimerFired


@dataclass(frozen=True)
class WaitEnd:
    """How a waiting step ends: its outputs (it succeeded) or its error (it failed, and its run with it)."""

    outputs: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


def wake_at(step: Step, now: float) -> float | None:
    """When the deadline of ``step``, starting to wait at ``now``, passes (None: it has none)."""
    timeout = (step.wait or {}).get("timeout")
    return now + float(timeout) if timeout else None


def waiting_data(step: Step, now: float) -> dict[str, Any]:
    """The data of the ``dev.knflow.step.waiting`` event: what it waits for and until when."""
    wait = step.wait or {}
    return {"kind": wait.get("kind"), "prompt": wait.get("prompt"), "wake_at": wake_at(step, now)}


def wait_ended(step: Step, fact: ApprovalDecided | TimerFired, now: float) -> WaitEnd | None:
    """How ``fact`` ends the waiting ``step``; None when it does not (a timer fired before its deadline,
    a deadline since moved)."""
    if isinstance(fact, TimerFired):
        if step.wake_at is None or step.wake_at > now:
            return None
        timeout = (step.wait or {}).get("timeout")
        message = f"approval {step.name!r} had no decision within {float(timeout or 0):g} s"
        return WaitEnd(error={"type": "ApprovalTimeout", "message": message, "retryable": False})
    decided = {"by": fact.by, "comment": fact.comment, "decided_at": now}
    if fact.approved:
        return WaitEnd(outputs={"approved": True, **decided})
    message = f"approval {step.name!r} rejected by {fact.by}" + (f": {fact.comment}" if fact.comment else "")
    return WaitEnd(error={"type": "ApprovalRejected", "message": message, "retryable": False, **decided})
