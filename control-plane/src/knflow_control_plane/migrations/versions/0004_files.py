"""files: the files of runs with their lineage (run, step, attempt) and retention

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("project", sa.String(length=63), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.Column("step", sa.String(length=63), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=300), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("expired_at", sa.Float(precision=53), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_files")),
    )
    op.create_index(op.f("ix_files_run_id"), "files", ["run_id"])
    op.create_index(
        "ix_files_live_created",
        "files",
        ["project", "created_at"],
        postgresql_where=sa.text("expired_at IS NULL"),
        sqlite_where=sa.text("expired_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_files_live_created", table_name="files")
    op.drop_index(op.f("ix_files_run_id"), table_name="files")
    op.drop_table("files")
