"""Alembic environment: migrations run on a connection knflow hands over (see ``migrate``)."""

from __future__ import annotations

from alembic import context

from knflow_control_plane.adapters.sqlalchemy.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only `alembic revision --autogenerate` by hand gets here
    raise RuntimeError("run migrations through knflow_control_plane.adapters.sqlalchemy.migrations.migrate")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
