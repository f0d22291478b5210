"""maps: a map step's counts, and one row per item (never a step each)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    time = sa.Float(precision=53)
    run_fk = sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE")
    op.create_table(
        "maps",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("step", sa.String(63), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("max_parallel", sa.Integer, nullable=False),
        sa.Column("on_error", sa.String(16), nullable=False),
        sa.Column("constants", json, nullable=False),
        sa.Column("pending", sa.Integer, nullable=False),
        sa.Column("running", sa.Integer, nullable=False),
        sa.Column("succeeded", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("skipped", sa.Integer, nullable=False),
        run_fk,
        sa.PrimaryKeyConstraint("run_id", "step", name="pk_maps"),
    )
    op.create_table(
        "map_items",
        sa.Column("run_id", sa.String(40), nullable=False),
        sa.Column("step", sa.String(63), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("inputs", json, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("budget_start", sa.Integer, nullable=False, server_default="0"),
        sa.Column("infra_failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ready_at", time, nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_expires_at", time, nullable=True),
        sa.Column("output", json, nullable=True),
        sa.Column("error", json, nullable=True),
        sa.Column("logs", sa.Text, nullable=False, server_default=""),
        sa.Column("started_at", time, nullable=True),
        sa.Column("finished_at", time, nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "step", "idx", name="pk_map_items"),
    )
    op.create_index("ix_map_items_status", "map_items", ["run_id", "step", "status", "idx"])
    op.create_index(
        "ix_map_items_leases",
        "map_items",
        ["lease_expires_at"],
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index("ix_map_items_leases", table_name="map_items")
    op.drop_index("ix_map_items_status", table_name="map_items")
    op.drop_table("map_items")
    op.drop_table("maps")
