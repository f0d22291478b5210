"""The runs' tables in memory and what reads them: runs, their steps and attempts (the ``RunReads``
port) and the lifecycle outbox (``Outbox``). :class:`~.runs.MemoryRuns` adds the transitions that
write them."""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from ...domain.map_views import ItemFilter, ItemPage, is_map
from ...domain.model import NoSuchStep, RunStatus, StepStatus
from ...domain.records import AttemptView, Page, QueuePlace, RunFilter, RunView, StepView
from ...domain.transitions import (
    Step,
)
from . import concurrency as queues
from .event_waits import MemoryEventWaitIndex
from .maps import MemoryMaps


class MemoryRunReads:
    """The tables of runs, steps, attempts and the outbox, and their reads (see :class:`~.runs.MemoryRuns`)."""

    def __init__(self, *, outbox: bool = False, rng: random.Random | None = None) -> None:
        self.outbox, self.rng = outbox, rng or random.Random()
        self._runs: dict[str, dict[str, Any]] = {}
        self._steps: dict[str, dict[str, Step]] = {}
        self._outputs: dict[str, dict[str, Any]] = {}  # run -> step -> its last outputs
        self._event_waits = MemoryEventWaitIndex()
        self._attempts: dict[str, dict[str, Any]] = {}
        self._keys: dict[tuple[str, str, str, str], str] = {}  # (project, source, event id, workflow) -> run
        self._outbox_rows: list[dict[str, Any]] = []
        self._child_of: dict[tuple[str, str], str] = {}  # (run, sub-workflow step) -> its latest child run
        self._maps = MemoryMaps()

    # -- reads --------------------------------------------------------------------------------
    async def get_run(self, run_id: str, project: str | None = None) -> RunView | None:
        """A run with its steps and every attempt, or None."""
        run = self._runs.get(run_id)
        if run is None or project not in (None, run["project"]):
            return None
        attempts = sorted((a for a in self._attempts.values() if a["run_id"] == run_id), key=lambda a: a["number"])
        views = [
            StepView(
                name,
                step.action,
                step.version,
                step.status.value,
                [_attempt_view(a) for a in attempts if a["step"] == name],
                self._outputs[run_id].get(name),
                step.error,
                step.started_at,
                step.finished_at,
                step.ready_at if step.status is StepStatus.READY and step.attempts else None,
                dict(step.wait) if step.wait is not None else None,
                step.wake_at if step.status is StepStatus.WAITING else None,
                self._child_of.get((run_id, name)),
                self._maps.counts(run_id, name),
            )
            for name, step in self._steps[run_id].items()
        ]
        views.sort(key=lambda v: (v.started_at is None, v.started_at or 0.0, v.name))
        return _run_view(run, views, queues.queue_place(self._runs, run))

    async def list_items(self, where: ItemFilter) -> ItemPage | None:
        """A page of a map step's items; None if the project has no such run.

        Raises:
            NoSuchStep: the run has no step of that name, or it is not a map step.
        """
        run = self._runs.get(where.run_id)
        if run is None or run["project"] != where.project:
            return None
        step = self._steps[where.run_id].get(where.step)
        if step is None:
            raise NoSuchStep(f"run {where.run_id!r} has no step {where.step!r}")
        if not is_map(step.wait):
            raise NoSuchStep(f"step {where.step!r} is not a map step")
        return self._maps.page(where)

    async def run_status(self, run_id: str) -> tuple[str, Any, Any] | None:
        """(status, result, error) of a run, or None."""
        run = self._runs.get(run_id)
        return (run["status"], run["result"], run["error"]) if run is not None else None

    async def finished_among(self, run_ids: list[str]) -> set[str]:
        """Which of these runs have finished."""
        return {r for r in run_ids if r in self._runs and RunStatus(self._runs[r]["status"]).finished}

    async def in_project(self, run_ids: list[str], project: str) -> set[str]:
        """Which of these runs belong to ``project``."""
        return {r for r in run_ids if r in self._runs and self._runs[r]["project"] == project}

    async def list_runs(self, where: RunFilter) -> Page:
        """Runs, newest first (run ids are time-ordered), filtered; the cursor is the last id seen."""
        found = [
            run
            for run_id, run in sorted(self._runs.items(), reverse=True)
            if run["project"] == where.project
            and (not where.workflow or run["workflow"] == where.workflow)
            and (not where.status or run["status"] == where.status)
            and (where.since is None or run["created_at"] >= where.since)
            and (where.until is None or run["created_at"] < where.until)
            and (not where.cursor or run_id < where.cursor)
            and (where.waiting is None or bool(self._waiting_in(run_id)) == where.waiting)
            and (not where.top_level or run.get("parent_run_id") is None)
            and (where.parent_run_id is None or run.get("parent_run_id") == where.parent_run_id)
        ]
        page = [
            replace(_run_view(run, [], queues.queue_place(self._runs, run)), waiting=self._waiting_in(run["id"]))
            for run in found[: where.limit]
        ]
        return Page(page, page[-1].run_id if len(found) > where.limit else None)

    def _waiting_in(self, run_id: str) -> list[str]:
        return sorted(name for name, step in self._steps[run_id].items() if step.status is StepStatus.WAITING)

    # -- the outbox ---------------------------------------------------------------------------
    async def take_outbox(self, limit: int) -> list[dict[str, Any]]:
        """The oldest unpublished lifecycle events, in the order they happened."""
        return [dict(e) for e in self._outbox_rows if e["published_at"] is None][:limit]

    async def mark_published(self, ids: list[int], now: float) -> None:
        """Record that these outbox events reached the bus."""
        for event in self._outbox_rows:
            if event["id"] in ids:
                event["published_at"] = now

    async def prune_outbox(self, published_before: float) -> int:
        """Forget events published before ``published_before``; how many went."""
        kept = [e for e in self._outbox_rows if e["published_at"] is None or e["published_at"] >= published_before]
        gone = len(self._outbox_rows) - len(kept)
        self._outbox_rows[:] = kept
        return gone


def _attempt_view(a: dict[str, Any]) -> AttemptView:
    return AttemptView(
        a["id"], a["number"], a["status"], a["inputs"], a["outputs"], a["error"], a["logs"], a["worker"],
        a["started_at"], a["finished_at"],
    )  # fmt: skip


def _run_view(run: dict[str, Any], steps: list[StepView], queue: QueuePlace | None = None) -> RunView:
    return RunView(
        run_id=run["id"],
        project=run["project"],
        workflow=run["workflow"],
        workflow_version=run["workflow_version"],
        status=run["status"],
        inputs=run["inputs"],
        result=run["result"],
        error=run["error"],
        trigger=run["trigger"],
        trace_id=run["trace_id"],
        created_at=run["created_at"],
        finished_at=run["finished_at"],
        steps=steps,
        waiting=[s.name for s in steps if s.status == StepStatus.WAITING.value],
        parent_run_id=run.get("parent_run_id"),
        parent_step=run.get("parent_step"),
        queue=queue,
    )
