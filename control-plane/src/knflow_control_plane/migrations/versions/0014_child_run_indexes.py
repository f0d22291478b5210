"""child runs: the poll's looks read only the rows still going (running sub-workflow steps, child runs
running or queued), not every child step and run ever made

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_RUNNING_STEP = "child_run_id IS NOT NULL AND status = 'running'"
_GOING_CHILD = "parent_run_id IS NOT NULL AND status IN ('running', 'queued')"


def upgrade() -> None:
    op.drop_index("ix_steps_child", table_name="steps")
    where = sa.text(_RUNNING_STEP)
    op.create_index("ix_steps_child", "steps", ["child_run_id"], postgresql_where=where, sqlite_where=where)
    going = sa.text(_GOING_CHILD)
    op.create_index("ix_runs_children_going", "runs", ["parent_run_id"], postgresql_where=going, sqlite_where=going)


def downgrade() -> None:
    op.drop_index("ix_runs_children_going", table_name="runs")
    op.drop_index("ix_steps_child", table_name="steps")
    where = sa.text("child_run_id IS NOT NULL")
    op.create_index("ix_steps_child", "steps", ["child_run_id"], postgresql_where=where, sqlite_where=where)
