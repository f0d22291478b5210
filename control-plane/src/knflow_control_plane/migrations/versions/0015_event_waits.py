"""event waits: a waiting step's lookup key, and the shapes (type, matched paths) events are keyed by

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("wait_key", sa.String(40), nullable=True))
    op.create_index(
        "ix_steps_wait_key",
        "steps",
        ["wait_key"],
        postgresql_where=sa.text("status = 'waiting'"),
        sqlite_where=sa.text("status = 'waiting'"),
    )
    op.create_table(
        "event_wait_shapes",
        sa.Column("type", sa.String(200), nullable=False),
        sa.Column("project", sa.String(63), nullable=False),
        sa.Column("shape", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("type", "project", "shape", name="pk_event_wait_shapes"),
    )


def downgrade() -> None:
    op.drop_table("event_wait_shapes")
    op.drop_index("ix_steps_wait_key", table_name="steps")
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("wait_key")
