"""The trigger tables: the event and schedule triggers of deployed workflows, the events that started a
run (so a redelivered one starts none), and those that started none, with the reason."""

from __future__ import annotations

import sqlalchemy as sa

from .table_types import Json, Name, Project, Time, metadata

trigger_events = sa.Table(
    "trigger_events",
    metadata,
    sa.Column("project", Project, primary_key=True),
    sa.Column("source", sa.String(500), primary_key=True),
    sa.Column("event_id", sa.String(500), primary_key=True),
    sa.Column("workflow", Name, primary_key=True),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.Column("received_at", Time, nullable=False),
)

# Event triggers of deployed workflows, matched against every event on the triggers topic.
event_triggers = sa.Table(
    "event_triggers",
    metadata,
    sa.Column("project", Project, primary_key=True),
    sa.Column("workflow", Name, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("trigger", Json, nullable=False),
)

# One row: bumped in every transaction that changes the event or schedule triggers. A replica that holds
# the triggers of generation N and reads a greater one knows a deploy it has not read yet has committed,
# even when an event matched some of the triggers it holds (``service/trigger_consumer.py``).
trigger_generation = sa.Table(
    "trigger_generation",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("generation", sa.BigInteger, nullable=False),
)

# Schedule triggers of deployed workflows; `cursor` is the last tick fired (epoch seconds). A tick's
# run is created idempotently on (schedule source, tick), so replicas firing together make one run.
schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("project", Project, primary_key=True),
    sa.Column("workflow", Name, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("trigger", Json, nullable=False),
    sa.Column("cursor", Time, nullable=False),
)

# Trigger events that started no run, with the reason (``domain/rejections.py``). One row per event and
# workflow (`workflow` is "" when the event matched none): a redelivered event is not recorded twice.
rejected_events = sa.Table(
    "rejected_events",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("project", Project, nullable=False),
    sa.Column("received_at", Time, nullable=False),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("source", sa.String(500), nullable=False),
    sa.Column("event_id", sa.String(500), nullable=False),
    sa.Column("type", sa.String(500), nullable=False),
    sa.Column("subject", sa.String(500), nullable=True),
    sa.Column("workflow", sa.String(63), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("field", sa.String(300), nullable=True),
    sa.Column("data", sa.Text, nullable=True),
    sa.UniqueConstraint("project", "source", "event_id", "workflow"),
    sa.Index(None, "project", "id"),
)
