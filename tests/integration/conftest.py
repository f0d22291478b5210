"""Stores for the contract suite: SQLite in a temp dir, and a fresh database on the real Postgres
started by ``scripts/services/postgres.sh`` (copied from a migrated template: fast and isolated)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from knflow_control_plane.adapters.sqlalchemy_database import Database
from knflow_control_plane.adapters.sqlalchemy_migrations import migrate
from knflow_control_plane.adapters.sqlalchemy_store import SqlAlchemyStore
from tests.services import drop_postgres_database, fresh_postgres_database, postgres_url

TEMPLATE = "knflow_template"
_template_ready = False


async def _postgres_database() -> str:
    global _template_ready
    base = postgres_url()
    admin = await asyncpg.connect(base)
    try:
        if not _template_ready:
            await admin.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            await admin.execute(f"CREATE DATABASE {TEMPLATE}")
            template_db = Database(base.rsplit("/", 1)[0] + f"/{TEMPLATE}")
            await migrate(template_db)
            await template_db.dispose()
            _template_ready = True
    finally:
        await admin.close()
    return await fresh_postgres_database("t", template=TEMPLATE)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlAlchemyStore]:
    url = None
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'knflow.db'}")
        await migrate(database)
    else:
        url = await _postgres_database()
        database = Database(url)
    store = SqlAlchemyStore(database, outbox=True)
    await store.ensure_project("default", 0.0)
    yield store
    await store.close()
    await asyncio.sleep(0)
    if url is not None:
        await drop_postgres_database(url)
