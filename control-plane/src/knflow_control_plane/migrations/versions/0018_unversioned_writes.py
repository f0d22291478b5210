"""unversioned writes bump the run version: replicas from before 0017 (which know nothing of it) can run
next to new ones during a rolling upgrade

A new replica records an attempt's end from a read made before it locks the run, and trusts the run's
``version`` (0017) to tell it, under the lock, that nobody changed the run since. Replicas from before
0017 change runs, steps and map items without bumping it. These triggers bump it for them: for every
update made by a session that has not said it bumps versions itself (``knflow.versioned``, set on
each of its connections by a replica that has this migration: ``database.py``). A new replica's own
writes skip them (the trigger's ``WHEN`` is false: no function is called, nothing is queued), so they
cost it nothing but that check. A bump too many is harmless: the completion is planned again, locked.

Postgres only: SQLite has one writer, and nothing is read outside its lock there.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_UNVERSIONED = "current_setting('knflow.versioned', true) IS DISTINCT FROM 'on'"

_FUNCTIONS = (
    """
CREATE OR REPLACE FUNCTION knflow_bump_own_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.version := OLD.version + 1;
    RETURN NEW;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION knflow_bump_run_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE runs SET version = version + 1 WHERE id = NEW.run_id;
    RETURN NULL;
END
$$
""",
)

#: (trigger, table, when it fires, function): a run's own row before its update; its steps' and map
#: rows' after theirs (their run's row then updated by the trigger, which bumps it through the first).
_TRIGGERS = (
    ("knflow_runs_unversioned", "runs", "BEFORE", "knflow_bump_own_version"),
    ("knflow_steps_unversioned", "steps", "AFTER", "knflow_bump_run_version"),
    ("knflow_maps_unversioned", "maps", "AFTER", "knflow_bump_run_version"),
    ("knflow_map_items_unversioned", "map_items", "AFTER", "knflow_bump_run_version"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in _FUNCTIONS:
        op.execute(function)
    for name, table, when, function in _TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {name} {when} UPDATE ON {table} FOR EACH ROW "
            f"WHEN ({_UNVERSIONED}) EXECUTE FUNCTION {function}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, _, _ in _TRIGGERS:
        op.execute(f"DROP TRIGGER {name} ON {table}")
    op.execute("DROP FUNCTION knflow_bump_run_version()")
    op.execute("DROP FUNCTION knflow_bump_own_version()")
