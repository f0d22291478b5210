"""After downtime, a schedule's missed ticks follow its policy, and each run's trigger record says so."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from knflow_control_plane.adapters.sqlalchemy.database import Database
from knflow_control_plane.adapters.sqlalchemy.migrations import migrate
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.service.scheduler import Scheduler

NOW = datetime(2026, 11, 23, 12, 0, 10, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return NOW

    def monotonic(self) -> float:
        return 0.0


class RecordingWorkflows:
    """Stands in for the workflow use cases above the store: records the runs it is asked to start."""

    def __init__(self, project: str = "default", started: list[dict[str, Any]] | None = None) -> None:
        self.project = project
        self.started: list[dict[str, Any]] = [] if started is None else started

    def of(self, project: str) -> RecordingWorkflows:
        """The same recorder, for the runs of ``project`` (each start records its project)."""
        return RecordingWorkflows(project, self.started)

    async def start(self, name: str, inputs: dict[str, Any], **kwargs: Any) -> None:
        self.started.append({"project": self.project, "workflow": name, "inputs": inputs, **kwargs})


@pytest.mark.parametrize(("policy", "runs", "skipped"), [("skip", 1, 9), ("catch_up", 10, 0)])
async def test_missed_ticks_follow_the_policy(tmp_path: Path, policy: str, runs: int, skipped: int) -> None:
    database = Database(f"sqlite:///{tmp_path / 'knflow.db'}")
    await migrate(database)
    store = SqlAlchemyStore(database)
    cron = {"kind": "schedule", "cron": "* * * * * *", "timezone": "UTC", "inputs": {"n": 1}, "missed": policy}
    await store.replace_triggers("default", "wf", "v1", [], [cron], now=NOW.timestamp() - 10)  # down for 10 s
    workflows = RecordingWorkflows()
    try:
        await Scheduler(store, workflows, FixedClock()).fire_due()  # type: ignore[arg-type]
        assert len(workflows.started) == runs
        records = [call["trigger"] for call in workflows.started]
        assert records[0]["skipped"] == skipped and records[-1]["tick"] == NOW.isoformat()
        assert all(r["missed_policy"] == policy for r in records)
        sources = {call["idempotency"] for call in workflows.started}
        assert len(sources) == runs  # one idempotency key per tick
        [schedule] = await store.list_schedules("default")
        assert schedule.cursor == NOW.timestamp()
        await Scheduler(store, workflows, FixedClock()).fire_due()  # type: ignore[arg-type]
        assert len(workflows.started) == runs  # nothing is due twice
    finally:
        await store.close()


async def test_the_schedules_of_every_project_fire_each_in_its_own_project(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'knflow.db'}")
    await migrate(database)
    store = SqlAlchemyStore(database)
    cron = {"kind": "schedule", "cron": "* * * * * *", "timezone": "UTC", "inputs": {"n": 1}, "missed": "skip"}
    for project in ("default", "beta"):
        await store.replace_triggers(project, "wf", "v1", [], [cron], now=NOW.timestamp() - 1)
    workflows = RecordingWorkflows()
    try:
        await Scheduler(store, workflows, FixedClock()).fire_due()  # type: ignore[arg-type]
        assert sorted(call["project"] for call in workflows.started) == ["beta", "default"]
        for project in ("default", "beta"):
            [schedule] = await store.list_schedules(project)
            assert schedule.cursor == NOW.timestamp()  # each project's own cursor moved
    finally:
        await store.close()


class RefusingWorkflows:
    """The workflow was undeployed after its schedule was read: every tick's run is refused."""

    def of(self, project: str) -> RefusingWorkflows:
        return self

    async def start(self, name: str, inputs: dict[str, Any], **kwargs: Any) -> None:
        from knflow_control_plane.errors import Conflict

        raise Conflict(f"workflow {name!r} is not deployed: deploy it first", field="workflow")


async def test_a_tick_that_can_start_no_run_is_kept_as_a_rejected_event(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'knflow.db'}")
    await migrate(database)
    store = SqlAlchemyStore(database)
    cron = {"kind": "schedule", "cron": "* * * * * *", "timezone": "UTC", "inputs": {"n": 1}, "missed": "skip"}
    await store.replace_triggers("default", "wf", "v1", [], [cron], now=NOW.timestamp() - 1)
    try:
        await Scheduler(store, RefusingWorkflows(), FixedClock()).fire_due()  # type: ignore[arg-type]
        [rejected] = await store.list_rejected("default")
        assert (rejected.topic, rejected.source, rejected.event_id) == ("schedule", "/schedules/wf/0", NOW.isoformat())
        assert rejected.workflow == "wf" and rejected.field == "workflow" and "not deployed" in rejected.reason
        assert rejected.data == '{"n": 1}'
        [schedule] = await store.list_schedules("default")
        assert schedule.cursor == NOW.timestamp()  # the tick is over: not fired again
    finally:
        await store.close()
