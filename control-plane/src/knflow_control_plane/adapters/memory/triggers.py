"""Event triggers and schedules of deployed workflows in memory (the
:class:`~knflow_control_plane.ports.TriggerStore` port), rows shaped as the database's."""

from __future__ import annotations

from typing import Any

from ...domain.records import DeployedTrigger, Schedule
from ._json import stored


class MemoryTriggers:
    """Each workflow's event triggers and schedules by position; a schedule with its cursor."""

    def __init__(self) -> None:
        self._events: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (project, workflow) -> rows
        self._schedules: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._generation = 0  # changes of the triggers made

    async def replace_triggers(
        self,
        project: str,
        workflow: str,
        version: str,
        events: list[dict[str, Any]],
        crons: list[dict[str, Any]],
        now: float,
    ) -> None:
        """Make ``events`` and ``crons`` the workflow's triggers; a schedule that stays (same position, cron
        and time zone) keeps its cursor, a new one starts from ``now``."""
        old = {
            (s["position"], s["trigger"].get("cron"), s["trigger"].get("timezone")): s["cursor"]
            for s in self._schedules.get((project, workflow), [])
        }
        key = (project, workflow)
        self._generation += 1
        self._events[key] = [_row(project, workflow, i, version, t) for i, t in enumerate(events)]
        self._schedules[key] = [
            {**_row(project, workflow, i, version, t), "cursor": old.get((i, t.get("cron"), t.get("timezone")), now)}
            for i, t in enumerate(crons)
        ]

    async def delete_triggers(self, project: str, workflow: str) -> None:
        """Remove every event and schedule trigger of a workflow."""
        self._generation += 1
        self._events.pop((project, workflow), None)
        self._schedules.pop((project, workflow), None)

    async def list_schedules(self, project: str | None) -> list[Schedule]:
        """Every schedule of the project (of every project: None), with its cursor, by workflow and position."""
        return [Schedule(**row) for row in _listed(self._schedules, project)]

    async def advance_schedule(self, project: str, workflow: str, position: int, tick: float) -> None:
        """Move a schedule's cursor forward to ``tick`` (never back)."""
        for schedule in self._schedules.get((project, workflow), []):
            if schedule["position"] == position and schedule["cursor"] < tick:
                schedule["cursor"] = tick

    async def list_event_triggers(self, project: str | None) -> list[DeployedTrigger]:
        """Every event trigger of the project (of every project: None), by workflow and position."""
        return [DeployedTrigger(**row) for row in _listed(self._events, project)]

    async def triggers_generation(self) -> int:
        """How many changes of the triggers were made."""
        return self._generation


def _row(project: str, workflow: str, position: int, version: str, trigger: dict[str, Any]) -> dict[str, Any]:
    return {
        "project": project,
        "workflow": workflow,
        "position": position,
        "version": version,
        "trigger": stored(trigger),
    }


def _listed(rows: dict[tuple[str, str], list[dict[str, Any]]], project: str | None) -> list[dict[str, Any]]:
    return [
        {**r, "trigger": stored(r["trigger"])}
        for (owner, _), mine in sorted(rows.items())
        if project in (None, owner)
        for r in mine
    ]
