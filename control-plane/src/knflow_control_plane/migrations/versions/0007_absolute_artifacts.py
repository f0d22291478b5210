"""artifacts: builds stored with a relative path are built again

Before this revision ``knflow dev`` kept its default state dir (``.knflow``) relative, and the venv
builder stored that relative code folder in each artifact. A function runs in another folder (with
``python -P``), so it could never import its code, and the bad path outlived a restart. The control
plane now resolves every path at start-up; here such artifacts are forgotten (build status back to
``pending``): the next deploy or invocation builds them again from the stored code, under the absolute
builds folder (a venv of the same requirements is reused).

Revision ID: 0007
Revises: 0006
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_versions = sa.table(
    "action_versions",
    sa.column("project", sa.String),
    sa.column("name", sa.String),
    sa.column("version", sa.String),
    sa.column("build_status", sa.String),
    sa.column("artifact", sa.JSON),
)


def relative(artifact: dict[str, Any]) -> bool:
    """Whether a stored artifact names a local path that is not absolute."""
    code_path = artifact.get("code_path")
    if code_path is not None and not str(code_path).startswith("/"):
        return True
    return artifact.get("kind") == "venv" and not str(artifact.get("location", "")).startswith("/")


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_versions.c.project, _versions.c.name, _versions.c.version, _versions.c.artifact).where(
            _versions.c.artifact.is_not(None)
        )
    ).all()
    for row in rows:
        if isinstance(row.artifact, dict) and relative(row.artifact):
            conn.execute(
                _versions.update()
                .where(
                    _versions.c.project == row.project,
                    _versions.c.name == row.name,
                    _versions.c.version == row.version,
                )
                .values(build_status="pending", artifact=sa.null())
            )


def downgrade() -> None:
    pass  # nothing to undo: the builds forgotten are made again on use
