"""rejected_events: trigger events that started no run, with the reason

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rejected_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("received_at", sa.Float(precision=53), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("event_id", sa.String(length=500), nullable=False),
        sa.Column("type", sa.String(length=500), nullable=False),
        sa.Column("subject", sa.String(length=500), nullable=True),
        sa.Column("workflow", sa.String(length=63), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("field", sa.String(length=300), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rejected_events")),
        sa.UniqueConstraint(
            "project",
            "source",
            "event_id",
            "workflow",
            name=op.f("uq_rejected_events_project_source_event_id_workflow"),
        ),
    )
    op.create_index(op.f("ix_rejected_events_project_id"), "rejected_events", ["project", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rejected_events_project_id"), table_name="rejected_events")
    op.drop_table("rejected_events")
