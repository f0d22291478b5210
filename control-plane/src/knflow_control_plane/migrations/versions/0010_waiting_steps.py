"""waiting steps: what a step running no action waits for (an approval) and its deadline

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("steps") as batch:
        json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
        batch.add_column(sa.Column("wait", json, nullable=True))
        batch.add_column(sa.Column("wake_at", sa.Float(precision=53), nullable=True))
    op.create_index(
        "ix_steps_waiting",
        "steps",
        ["wake_at"],
        postgresql_where=sa.text("status = 'waiting'"),
        sqlite_where=sa.text("status = 'waiting'"),
    )


def downgrade() -> None:
    op.drop_index("ix_steps_waiting", table_name="steps")
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("wake_at")
        batch.drop_column("wait")
