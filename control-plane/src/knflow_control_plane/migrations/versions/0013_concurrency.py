"""run concurrency: a run's concurrency key, limit, priority, queue arrival and timeout (domain/concurrency.py),
and the index of steps held by their action's max_concurrency (domain/throttles.py)

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("concurrency_key", sa.Text(), nullable=True))
        batch.add_column(sa.Column("concurrency_limit", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("queued_at", sa.Float(precision=53), nullable=True))
        batch.add_column(sa.Column("run_timeout", sa.Float(precision=53), nullable=True))
    op.create_index(
        "ix_runs_concurrency",
        "runs",
        ["concurrency_key", "status"],
        postgresql_where=sa.text("concurrency_key IS NOT NULL"),
        sqlite_where=sa.text("concurrency_key IS NOT NULL"),
    )
    # the poll's look for keys with queued runs reads queued rows only (few), not every keyed run ever made
    op.create_index(
        "ix_runs_queued",
        "runs",
        ["concurrency_key"],
        postgresql_where=sa.text("status = 'queued'"),
        sqlite_where=sa.text("status = 'queued'"),
    )

    # the dispatcher's look for steps held by their action's max_concurrency reads those rows only
    op.create_index(
        "ix_steps_throttled",
        "steps",
        ["action"],
        postgresql_where=sa.text("status = 'throttled'"),
        sqlite_where=sa.text("status = 'throttled'"),
    )


def downgrade() -> None:
    op.drop_index("ix_steps_throttled", table_name="steps")
    op.drop_index("ix_runs_queued", table_name="runs")
    op.drop_index("ix_runs_concurrency", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        for column in ("run_timeout", "queued_at", "priority", "concurrency_limit", "concurrency_key"):
            batch.drop_column(column)
