"""Event triggers, schedules and the lifecycle outbox, as SQL. Each public function is one transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ...domain.records import DeployedTrigger, Schedule
from . import statements as st
from .raw import AnyConnection
from .tables import event_triggers, leases, outbox, schedules, trigger_generation


def replace_triggers(
    conn: Connection,
    project: str,
    workflow: str,
    version: str,
    events: list[dict[str, Any]],
    crons: list[dict[str, Any]],
    now: float,
) -> None:
    """Make ``events`` and ``crons`` the event and schedule triggers of a deployed workflow.

    A schedule that stays (same position and cron) keeps its cursor; a new one starts from ``now``,
    so that deploying never fires the ticks of the past.
    """
    old = {
        (r.position, r.trigger.get("cron"), r.trigger.get("timezone")): r.cursor
        for r in conn.execute(
            sa.select(schedules.c.position, schedules.c.trigger, schedules.c.cursor).where(
                schedules.c.project == project, schedules.c.workflow == workflow
            )
        )
    }
    delete_triggers(conn, project, workflow)
    if events:
        conn.execute(
            event_triggers.insert(),
            [
                {"project": project, "workflow": workflow, "position": i, "version": version, "trigger": t}
                for i, t in enumerate(events)
            ],
        )
    if crons:
        conn.execute(
            schedules.insert(),
            [
                {
                    "project": project,
                    "workflow": workflow,
                    "position": i,
                    "version": version,
                    "trigger": t,
                    "cursor": old.get((i, t.get("cron"), t.get("timezone")), now),
                }
                for i, t in enumerate(crons)
            ],
        )


def delete_triggers(conn: Connection, project: str, workflow: str) -> None:
    """Remove every event and schedule trigger of a workflow."""
    conn.execute(
        event_triggers.delete().where(event_triggers.c.project == project, event_triggers.c.workflow == workflow)
    )
    conn.execute(schedules.delete().where(schedules.c.project == project, schedules.c.workflow == workflow))
    bump_generation(conn)


def bump_generation(conn: Connection) -> None:
    """Count one more change of the triggers, in the transaction that makes it (the row locks until then,
    so changes of the triggers commit one at a time: deploys are rare)."""
    conn.execute(trigger_generation.update().values(generation=trigger_generation.c.generation + 1))


def triggers_generation(conn: AnyConnection) -> int:
    """How many changes of the triggers have committed."""
    return int(conn.execute(st.TRIGGERS_GENERATION).scalar_one())


def list_event_triggers(conn: Connection, project: str | None) -> list[DeployedTrigger]:
    """Every event trigger of the project's deployed workflows (of every project: None), with ``project``."""
    query = sa.select(event_triggers).order_by(
        event_triggers.c.project, event_triggers.c.workflow, event_triggers.c.position
    )
    rows = conn.execute(query if project is None else query.where(event_triggers.c.project == project))
    return [DeployedTrigger(r.project, r.workflow, r.position, r.version, r.trigger) for r in rows]


def list_schedules(conn: Connection, project: str | None) -> list[Schedule]:
    """Every schedule of the project's deployed workflows (of every project: None), with its cursor."""
    query = sa.select(schedules).order_by(schedules.c.project, schedules.c.workflow, schedules.c.position)
    rows = conn.execute(query if project is None else query.where(schedules.c.project == project))
    return [Schedule(r.project, r.workflow, r.position, r.version, r.trigger, r.cursor) for r in rows]


def advance_schedule(conn: Connection, project: str, workflow: str, position: int, tick: float) -> None:
    """Move a schedule's cursor forward to ``tick`` (never back: replicas may race)."""
    conn.execute(
        schedules.update()
        .where(
            schedules.c.project == project,
            schedules.c.workflow == workflow,
            schedules.c.position == position,
            schedules.c.cursor < tick,
        )
        .values(cursor=tick)
    )


def take_outbox(conn: AnyConnection, limit: int) -> list[dict[str, Any]]:
    """The oldest unpublished lifecycle events, in the order they happened.

    Relaying is at least once: a relay that dies between publishing and :func:`mark_published` publishes
    the batch again, with the same ids (the outbox id is the event id), so consumers dedup by id.
    """
    # Prebuilt statements: the relay runs these on the raw driver path after every batch of transitions.
    return [r._asdict() for r in conn.execute(st.TAKE_OUTBOX, {"limit": limit})]


def mark_published(conn: AnyConnection, ids: list[int], now: float) -> None:
    """Record that these outbox events reached the bus."""
    if ids:
        conn.execute(st.MARK_PUBLISHED, {"ids": ids, "now": now})


def prune_outbox(conn: Connection, published_before: float) -> int:
    """Delete events published before ``published_before``; how many went."""
    result = conn.execute(
        outbox.delete().where(outbox.c.published_at.is_not(None), outbox.c.published_at < published_before)
    )
    return int(result.rowcount or 0)


def acquire_lease(conn: Connection, name: str, holder: str, now: float, ttl: float) -> bool:
    """Take or renew the lease ``name`` for ``holder`` until ``now + ttl``; False while another holds it.

    Two statements, both safe under concurrency: the row is created once (a racing insert loses quietly),
    then an update only succeeds for the holder or once the lease has expired.
    """
    insert = insert_ignoring(conn, leases).values(name=name, holder=holder, expires_at=now + ttl)
    if conn.execute(insert).rowcount == 1:
        return True
    taken = conn.execute(
        leases.update()
        .where(leases.c.name == name, sa.or_(leases.c.holder == holder, leases.c.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
    )
    return taken.rowcount == 1


def release_lease(conn: Connection, name: str, holder: str) -> None:
    """Give the lease up (when ``holder`` has it), so another replica takes over at once."""
    conn.execute(leases.delete().where(leases.c.name == name, leases.c.holder == holder))


def insert_ignoring(conn: Connection, table: sa.Table) -> Any:
    """An INSERT of ``table`` that skips rows clashing with a unique key (SQLite and Postgres)."""
    from sqlalchemy.dialects import postgresql, sqlite

    if conn.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
