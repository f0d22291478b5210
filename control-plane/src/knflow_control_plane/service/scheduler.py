"""Schedule triggers: every replica looks for due ticks; each tick starts exactly one run.

Exactly once comes from the store, not from a leader: a tick's run is created idempotently on
(``/schedules/{workflow}/{position}``, tick time), the key trigger events are unique on, so replicas
firing the same tick together make one run. Each schedule's cursor (its last tick) only moves forward;
after downtime the trigger's ``missed`` policy says whether the missed ticks fire (``catch_up``) or only
the latest (``skip``, the default), and the run's trigger record says how many were skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from typing import Protocol

from knflow.spec import ScheduleTrigger
from knflow_eventing import Tick, due_ticks, next_tick

from ..domain.records import Schedule
from ..domain.rejections import RejectedEvent, excerpt
from ..errors import Conflict, ControlPlaneError, InvalidRequest, NotFound
from ..ports import Clock, RejectedEvents, TriggerStore
from .background import Background
from .health import Outage
from .workflows import Workflows


class SchedulerStore(TriggerStore, RejectedEvents, Protocol):
    """What the scheduler needs: schedules and their cursors, and where a tick that starts no run is told."""


log = logging.getLogger("knflow.scheduler")
MAX_SLEEP_S = 1.0
#: the type of a schedule's tick where a rejected one is shown (``GET /v1/rejected-events``)
SCHEDULE_TICK_TYPE = "dev.knflow.schedule.tick"


class Scheduler:
    """Fires the due ticks of every deployed schedule of every project (``project``: the plane's default)."""

    def __init__(self, store: SchedulerStore, workflows: Workflows, clock: Clock, project: str = "default"):
        self.store = store
        self.workflows = workflows
        self.clock = clock
        self.project = project
        self._background = Background("knflow-scheduler")

    async def start(self) -> None:
        """Fire ticks in the background until :meth:`stop`."""
        self._background.start(self._loop())

    async def stop(self) -> None:
        """Stop firing ticks."""
        await self._background.stop()

    async def fire_due(self) -> float:
        """Start the runs of every due tick; returns the seconds until the next tick (capped)."""
        now = self.clock.now()
        sleep = MAX_SLEEP_S
        for row in await self.store.list_schedules(None):
            trigger = ScheduleTrigger.model_validate(row.trigger)
            cursor = datetime.fromtimestamp(row.cursor, UTC)
            for tick in due_ticks(trigger.cron, trigger.timezone, cursor, now, trigger.missed):
                await self._fire(row, trigger, tick)
                cursor = tick.at
            upcoming = next_tick(trigger.cron, trigger.timezone, max(cursor, now))
            sleep = min(sleep, max(0.0, (upcoming - self.clock.now()).total_seconds()))
        return sleep

    async def _fire(self, row: Schedule, trigger: ScheduleTrigger, tick: Tick) -> None:
        at = tick.at.astimezone(UTC).isoformat()
        record = {
            "kind": "schedule",
            "cron": trigger.cron,
            "timezone": trigger.timezone,
            "tick": at,
            "skipped": tick.skipped,
            "late_by_s": round(tick.late_by.total_seconds(), 3),
            "missed_policy": trigger.missed,
        }
        if trigger.priority is not None:
            record["priority"] = trigger.priority
        source = f"/schedules/{row.workflow}/{row.position}"
        try:
            await self.workflows.of(row.project).start(
                row.workflow,
                dict(trigger.inputs),
                trigger=record,
                version=row.version,
                idempotency=(source, at),
            )
        except (InvalidRequest, NotFound, Conflict) as exc:  # this tick can never start its run: kept, shown
            log.warning("the %s tick of %s starts no run: %s", at, row.workflow, exc)
            field = exc.fields.get("field")
            rejected = RejectedEvent(
                project=row.project,
                received_at=self.clock.now().timestamp(),
                topic="schedule",
                source=source,
                event_id=at,
                type=SCHEDULE_TICK_TYPE,
                reason=str(exc),
                workflow=row.workflow,
                field=field if isinstance(field, str) else None,
                data=excerpt(json.dumps(trigger.inputs, default=str)),
            )
            await self.store.record_rejected([rejected])
        except ControlPlaneError:
            log.exception("the %s tick of %s could not start a run", at, row.workflow)
        await self.store.advance_schedule(row.project, row.workflow, row.position, tick.at.timestamp())

    async def _loop(self) -> None:
        outage = Outage("firing schedules", log, base=1.0, cap=MAX_SLEEP_S)
        while True:
            try:
                sleep = await self.fire_due()
                outage.succeeded()
            except ControlPlaneError as exc:
                sleep = outage.failed(exc)  # one line when the outage starts, one when it ends
            await asyncio.sleep(sleep)
