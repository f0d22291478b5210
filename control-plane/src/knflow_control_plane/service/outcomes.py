"""Turning a function's HTTP reply into an attempt outcome (the control plane's side of DESIGN §4)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from knflow import wire
from knflow_runtime.contract import decode_result
from knflow_runtime.errors import MalformedEvent

from ..domain.model import Outcome
from ..ports import HttpReply


@dataclass(frozen=True)
class CheckedReply(HttpReply):
    """A function's reply whose outcome the control plane settled already: its file outputs checked and
    recorded, its large outputs and logs offloaded (``service/files.py``).

    Attributes:
        outcome: what to record.
    """

    outcome: Outcome


def outcome_of(reply: HttpReply) -> Outcome:
    """The outcome a function's reply reports.

    A 200 carries a ``step.succeeded``/``step.failed`` event; a 400 means the function refused the
    inputs (not retryable); anything else is a platform failure, retried.
    """
    if isinstance(reply, CheckedReply):
        return reply.outcome
    if reply.status == 200:
        try:
            kind, data, _ = decode_result(reply.headers, reply.body)
        except MalformedEvent as exc:
            return Outcome.failed(
                _error(
                    "MalformedReply", f"the function replied with a malformed event: {exc}", code=None, retryable=True
                )
            )
        if kind == wire.SUCCEEDED:
            return Outcome.succeeded(dict(data["outputs"]), data["logs"])  # type: ignore[typeddict-item]
        return Outcome.failed(dict(data["error"]), data["logs"])  # type: ignore[typeddict-item]
    if reply.status == 400:
        problem = _json(reply.body)
        field = problem.get("field")
        detail = str(problem.get("detail") or problem.get("title") or reply.body[:500].decode(errors="replace"))
        message = f"input {field!r}: {detail}" if field and str(field) not in detail else detail
        return Outcome.failed(_error("InputValidationError", message, code=400, retryable=False))
    body = reply.body[:2000].decode(errors="replace")
    return Outcome.failed(
        _error("FunctionError", f"the function answered HTTP {reply.status}: {body}", code=None, retryable=True)
    )


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _error(type_: str, message: str, *, code: int | None, retryable: bool) -> dict[str, Any]:
    return {"type": type_, "message": message, "code": code, "retryable": retryable, "traceback": None}
