"""Alembic revisions the tests name by what they do, not by number (other migrations may come between)."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from knflow_control_plane.adapters.sqlalchemy.migrations import alembic_config

#: The start of the docstring of the migration that forgets builds stored with a relative path.
ARTIFACTS_REPAIR = "artifacts: builds stored with a relative path are built again"


def before(doc: str) -> str:
    """The revision just before the migration whose docstring starts with ``doc``."""
    script = ScriptDirectory.from_config(alembic_config())
    found = next(r for r in script.walk_revisions() if (r.doc or "").startswith(doc))
    assert isinstance(found.down_revision, str)
    return found.down_revision
