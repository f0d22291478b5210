"""The migration that repairs builds, on SQLite and the real Postgres: builds stored with a relative path
(what ``knflow dev`` stored while its state dir stayed relative) are forgotten, to be built again; the
others are kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection

from knflow_control_plane.adapters.sqlalchemy.database import Database
from knflow_control_plane.adapters.sqlalchemy.migrations import alembic_config, migrate
from knflow_control_plane.adapters.sqlalchemy.tables import action_versions
from tests.revisions import ARTIFACTS_REPAIR, before
from tests.services import drop_postgres_database, fresh_postgres_database

STORED: dict[str, dict[str, Any] | None] = {
    "relative_code": {"kind": "venv", "location": "/usr/bin/python3", "code_path": ".knflow/builds/code/abc"},
    "relative_venv": {"kind": "venv", "location": ".knflow/builds/venvs/x/bin/python", "code_path": "/abs/code"},
    "absolute": {"kind": "venv", "location": "/usr/bin/python3", "code_path": "/home/ada/.knflow/builds/code/abc"},
    "image": {"kind": "image", "location": "registry:5000/count@sha256:00", "code_path": None},
    "never_built": None,
}


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite:///{tmp_path / 'knflow.db'}" if request.param == "sqlite" else await fresh_postgres_database("m")
    database = Database(url)
    yield database
    await database.dispose()
    if request.param == "postgres":
        await drop_postgres_database(url)


def _upgrade_to(conn: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, revision)


def _store_builds(conn: Connection) -> None:
    conn.execute(sa.text("INSERT INTO projects (id, created_at) VALUES ('default', 0)"))
    for name, artifact in STORED.items():
        conn.execute(
            action_versions.insert().values(
                project="default",
                name=name,
                version="v1",
                spec={},
                build_status="ready" if artifact else "pending",
                artifact=artifact,
                created_at=0.0,
                updated_at=0.0,
            )
        )


def _builds(conn: Connection) -> dict[str, tuple[str, Any]]:
    rows = conn.execute(sa.select(action_versions.c.name, action_versions.c.build_status, action_versions.c.artifact))
    return {row.name: (row.build_status, row.artifact) for row in rows}


async def test_relative_builds_are_forgotten_and_the_others_kept(database: Database) -> None:
    await database.run(_upgrade_to, before(ARTIFACTS_REPAIR))
    await database.run(_store_builds)
    await migrate(database)
    builds = await database.run(_builds)
    assert builds["relative_code"] == ("pending", None)
    assert builds["relative_venv"] == ("pending", None)
    assert builds["absolute"] == ("ready", STORED["absolute"])
    assert builds["image"] == ("ready", STORED["image"])
    assert builds["never_built"] == ("pending", None)
