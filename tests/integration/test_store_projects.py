"""Every read and write of a run is scoped by project in the store's own statements (SQLite and Postgres):
another project's run is "not found", never changed, and never revealed by a different answer."""

from __future__ import annotations

import time

from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.domain.model import Outcome
from knflow_control_plane.domain.records import RunFilter
from tests.integration.test_store_contract import W, drive, new_run

FATAL = {"type": "ActionError", "message": "no", "code": 404, "retryable": False, "traceback": None}


async def test_cancel_of_another_projects_run_is_not_found_and_changes_nothing(store: SqlAlchemyStore) -> None:
    created = await store.create_run(new_run(), time.time(), W)
    assert await store.cancel_run(created.run_id, time.time(), "intruder") is None
    run = await store.get_run(created.run_id, "default")
    assert run is not None and run.status == "running"
    assert await store.cancel_run("no-such-run", time.time(), "default") is None
    cancelled = await store.cancel_run(created.run_id, time.time(), "default")
    assert cancelled is not None and cancelled.run_status.value == "cancelled"


async def test_retry_of_another_projects_failed_run_is_not_found_and_changes_nothing(store: SqlAlchemyStore) -> None:
    created = await store.create_run(new_run(), time.time(), W)
    left = next(c for c in created.claims if c.step == "left")
    await store.complete(left.run_id, "left", left.attempt_id, Outcome.failed(FATAL), time.time(), W)
    assert (await store.get_run(created.run_id, "default")).status == "failed"  # type: ignore[union-attr]
    assert await store.retry_run(created.run_id, time.time(), "intruder") is None
    run = await store.get_run(created.run_id, "default")
    assert run is not None and run.status == "failed"
    assert await store.claim_ready(time.time(), W) == []
    retried = await store.retry_run(created.run_id, time.time(), "default")
    assert retried is not None and retried.run_status.value == "running"


async def test_retry_of_another_projects_succeeded_run_answers_as_if_it_did_not_exist(store: SqlAlchemyStore) -> None:
    created = await store.create_run(new_run(), time.time(), W)
    await drive(store, list(created.claims))
    # a conflict (TransitionError) here would tell the intruder that the run exists
    assert await store.retry_run(created.run_id, time.time(), "intruder") is None
    assert await store.retry_run(created.run_id, time.time(), "intruder", "nope") is None  # no NoSuchStep either


async def test_reads_of_another_projects_run_find_nothing(store: SqlAlchemyStore) -> None:
    created = await store.create_run(new_run(), time.time(), W)
    assert await store.get_run(created.run_id, "intruder") is None
    assert (await store.list_runs(RunFilter("intruder"))).runs == []
    assert await store.list_files(created.run_id, "intruder") == []
    assert await store.in_project([created.run_id, "no-such-run"], "intruder") == set()  # the live feed's check
    assert await store.in_project([created.run_id, "no-such-run"], "default") == {created.run_id}
    run = await store.get_run(created.run_id, "default")
    assert run is not None and run.run_id == created.run_id
