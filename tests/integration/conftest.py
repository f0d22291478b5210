"""Stores for the contract suite: SQLite in a temp dir, and a fresh database on the real Postgres
started by ``scripts/services/postgres.sh`` (copied from a migrated template: fast and isolated)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from knflow_control_plane.adapters.sqlalchemy.database import Database
from knflow_control_plane.adapters.sqlalchemy.migrations import migrate
from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from tests.services import drop_postgres_database, fresh_postgres_database

# One migrated template per test process (named like the other per-process databases, so it is dropped at
# exit or as an orphan): test runs of several checkouts on one machine never drop each other's template.
_template: str | None = None


async def _postgres_database() -> str:
    global _template
    if _template is None:
        url = await fresh_postgres_database("tmpl")
        template_db = Database(url)
        await migrate(template_db)
        await template_db.dispose()
        _template = url.rsplit("/", 1)[1]
    return await fresh_postgres_database("t", template=_template)


@contextlib.asynccontextmanager
async def sql_store(kind: str, tmp_path: Path) -> AsyncIterator[SqlAlchemyStore]:
    """A migrated store with the default project: ``sqlite`` in ``tmp_path``, or a fresh ``postgres`` database.
    ``sqlite-inline``: SQLite with every raw transaction run on the event loop's connection when its lock
    is free, as the plane runs them while it is not busy (where run states are kept between transitions:
    ``state_cache``)."""
    url = None
    if kind.startswith("sqlite"):
        database = Database(f"sqlite:///{tmp_path / 'knflow.db'}")
        await migrate(database)
        if kind == "sqlite-inline":
            database.run_inline_when(lambda: True)
    else:
        url = await _postgres_database()
        database = Database(url)
    store = SqlAlchemyStore(database, outbox=True)
    await store.ensure_project("default", 0.0)
    try:
        yield store
    finally:
        await store.close()
        await asyncio.sleep(0)
        if url is not None:
            await drop_postgres_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlAlchemyStore]:
    async with sql_store(request.param, tmp_path) as opened:
        yield opened
