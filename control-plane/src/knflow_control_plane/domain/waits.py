"""Steps that wait without a worker (``knflow.dev/v2`` approvals, durable sleeps and event waits): what
they record when they start waiting and when they end. No I/O; :mod:`.planner` applies these as facts
(:class:`~.transitions.ApprovalDecided`, :class:`~.transitions.TimerFired`,
:class:`~.transitions.EventArrived`: :mod:`.event_waits`) arrive."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import event_waits
from .transitions import ApprovalDecided, EventArrived, Step, TimerFired


@dataclass(frozen=True)
class WaitEnd:
    """How a waiting step ends: its outputs (it succeeded) or its error (it failed, and its run with it)."""

    outputs: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


def wake_at(step: Step, now: float) -> float | None:
    """When the deadline of ``step``, starting to wait at ``now``, passes (None: it has none): a sleep's
    end, an approval's timeout."""
    wait = step.wait or {}
    seconds = wait.get("seconds") if wait.get("kind") == "sleep" else wait.get("timeout")
    return now + float(seconds) if seconds else None


def waiting_data(step: Step, now: float) -> dict[str, Any]:
    """The data of the ``dev.knflow.step.waiting`` event: what it waits for and until when."""
    wait = step.wait or {}
    data = {"kind": wait.get("kind"), "wake_at": wake_at(step, now)}
    return {**data, "prompt": wait["prompt"]} if "prompt" in wait else data


def wait_ended(step: Step, fact: ApprovalDecided | TimerFired | EventArrived, now: float) -> WaitEnd | None:
    """How ``fact`` ends the waiting ``step``; None when it does not (a timer fired before its deadline,
    a decision on a step that is not an approval, an event for a step that does not wait for one)."""
    kind = (step.wait or {}).get("kind")
    if isinstance(fact, TimerFired):
        if step.wake_at is None or step.wake_at > now:
            return None
        if kind == "sleep":
            return WaitEnd(outputs={"woke_at": now})
        if kind == event_waits.KIND:
            return WaitEnd(error=event_waits.timed_out(step))
        timeout = (step.wait or {}).get("timeout")
        message = f"approval {step.name!r} had no decision within {float(timeout or 0):g} s"
        return WaitEnd(error={"type": "ApprovalTimeout", "message": message, "retryable": False})
    if isinstance(fact, EventArrived):
        outputs = event_waits.ended_by_event(step, fact.event)
        return None if outputs is None else WaitEnd(outputs=outputs)
    if kind != "approval":
        return None
    decided = {"by": fact.by, "comment": fact.comment, "decided_at": now}
    if fact.approved:
        return WaitEnd(outputs={"approved": True, **decided})
    message = f"approval {step.name!r} rejected by {fact.by}" + (f": {fact.comment}" if fact.comment else "")
    return WaitEnd(error={"type": "ApprovalRejected", "message": message, "retryable": False, **decided})


def not_decided(step: str, status: str, wait: Mapping[str, Any] | None) -> str:
    """Why a decision on ``step`` (``status``, waiting for ``wait``) changed nothing."""
    if (wait or {}).get("kind") != "approval":
        return f"step {step!r} is not an approval"
    return f"step {step!r} is not waiting for a decision: it is {status}"
