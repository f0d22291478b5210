"""A stand-in for ``Workflows`` in the trigger consumer's unit tests: it starts every run asked for, once
per (workflow, event) as the store's idempotency does, and remembers what it was asked."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from knflow_control_plane.observability import logs


@dataclass
class Started:
    run_id: str
    duplicate: bool = False


class Starts:
    """Runs started by workflow name (``started``, in order), each with its trigger record (``triggers``);
    a workflow in ``refusals`` raises its error instead (data that does not fit its inputs, say)."""

    def __init__(self, refusals: dict[str, Exception] | None = None) -> None:
        self.started: list[str] = []
        self.triggers: dict[str, dict[str, Any]] = {}
        self.refusals = refusals or {}
        self._runs: dict[tuple[str, Any], str] = {}

    def of(self, project: str) -> Starts:
        return self

    async def start(
        self, name: str, inputs: dict[str, Any], *, trigger: dict[str, Any], idempotency: Any = None, **_: Any
    ) -> Started:
        await asyncio.sleep(0)  # as a store's transaction does: other events go on meanwhile
        if name in self.refusals:
            raise self.refusals[name]
        key = (name, idempotency)
        if idempotency is not None and key in self._runs:
            return Started(self._runs[key], duplicate=True)
        self.started.append(name)
        self.triggers[name] = trigger
        self._runs[key] = run_id = f"run-{len(self.started)}"
        logs.bind(run_id=run_id)  # as Orchestrator.submit does, for the rest of the task
        return Started(run_id)
