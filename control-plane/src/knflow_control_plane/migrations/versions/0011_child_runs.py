"""child runs: a sub-workflow step's run links to its parent step, and the step to its child run

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("parent_run_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("parent_step", sa.String(63), nullable=True))
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("child_run_id", sa.String(40), nullable=True))
    # Only child runs and sub-workflow steps are indexed: a plain run's rows stay out of both.
    op.create_index(
        "ix_runs_parent",
        "runs",
        ["parent_run_id"],
        postgresql_where=sa.text("parent_run_id IS NOT NULL"),
        sqlite_where=sa.text("parent_run_id IS NOT NULL"),
    )
    op.create_index(
        "ix_steps_child",
        "steps",
        ["child_run_id"],
        postgresql_where=sa.text("child_run_id IS NOT NULL"),
        sqlite_where=sa.text("child_run_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_steps_child", table_name="steps")
    op.drop_index("ix_runs_parent", table_name="runs")
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("child_run_id")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("parent_step")
        batch.drop_column("parent_run_id")
