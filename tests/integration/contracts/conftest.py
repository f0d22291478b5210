"""Each small port of the run store and the access store, on every implementation: the in-memory twin
shipped in the package, SQLite, and a fresh database on the real Postgres (the transitions' contract is
``tests/integration/test_store_contract.py``, on the same three)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from knflow_control_plane.adapters.memory import (
    MemoryAccess,
    MemoryCatalogue,
    MemoryFileRecords,
    MemoryLeases,
    MemoryRejectedEvents,
    MemoryTriggers,
)
from knflow_control_plane.adapters.sqlalchemy.access import SqlAlchemyAccess
from knflow_control_plane.ports import AccessStore, CatalogueStore, FileRecords, Leases, RejectedEvents, TriggerStore
from tests.integration.conftest import sql_store

IMPLEMENTATIONS = ["memory", "sqlite", "postgres"]


@pytest.fixture(params=IMPLEMENTATIONS)
async def leases(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Leases]:
    if request.param == "memory":
        yield MemoryLeases()
        return
    async with sql_store(request.param, tmp_path) as store:
        yield store


@pytest.fixture(params=IMPLEMENTATIONS)
async def rejections(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RejectedEvents]:
    if request.param == "memory":
        yield MemoryRejectedEvents()
        return
    async with sql_store(request.param, tmp_path) as store:
        yield store


@pytest.fixture(params=IMPLEMENTATIONS)
async def file_records(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FileRecords]:
    if request.param == "memory":
        yield MemoryFileRecords()
        return
    async with sql_store(request.param, tmp_path) as store:
        await store.ensure_project("other", 0.0)
        yield store


@pytest.fixture(params=IMPLEMENTATIONS)
async def access(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AccessStore]:
    if request.param == "memory":
        yield MemoryAccess()
        return
    async with sql_store(request.param, tmp_path) as store:
        await store.ensure_project("other", 0.0)
        yield SqlAlchemyAccess(store.db)


@pytest.fixture(params=IMPLEMENTATIONS)
async def catalogue(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CatalogueStore]:
    if request.param == "memory":
        yield MemoryCatalogue()
        return
    async with sql_store(request.param, tmp_path) as store:
        await store.ensure_project("other", 0.0)
        yield store


@pytest.fixture(params=IMPLEMENTATIONS)
async def triggers(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TriggerStore]:
    if request.param == "memory":
        yield MemoryTriggers()
        return
    async with sql_store(request.param, tmp_path) as store:
        await store.ensure_project("other", 0.0)
        yield store
