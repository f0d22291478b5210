"""event triggers and schedules

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_triggers",
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("workflow", sa.String(length=63), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column(
            "trigger", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.PrimaryKeyConstraint("project", "workflow", "position", name=op.f("pk_event_triggers")),
    )
    op.create_table(
        "schedules",
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("workflow", sa.String(length=63), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column(
            "trigger", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("cursor", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("project", "workflow", "position", name=op.f("pk_schedules")),
    )


def downgrade() -> None:
    op.drop_table("schedules")
    op.drop_table("event_triggers")
