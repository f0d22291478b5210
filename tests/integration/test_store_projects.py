"""Every read and write of a run is scoped by project in the store's own statements (SQLite and Postgres):
another project's run is "not found", never changed, and never revealed by a different answer."""

from __future__ import annotations

import time
from dataclasses import replace

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


# -- projects as records: created, listed, deleted with everything of theirs (SQLite and Postgres) ------------
HTTP = {"kind": "http", "method": "POST", "path": "/orders", "timeout": 0}


async def _fill(store: SqlAlchemyStore, project: str) -> str:
    """A project holding a bit of everything: a deployed workflow with a route and a schedule, a finished and
    a running run, a file, a key, a secret, a rejected event. The id of its running run."""
    from knflow_control_plane.adapters.sqlalchemy.access import SqlAlchemyAccess
    from knflow_control_plane.domain.files import FileRecord
    from knflow_control_plane.domain.rejections import RejectedEvent

    now = time.time()
    spec = {"name": "wf", "version": "v1"}
    await store.create_project(project, now)
    await store.put_workflow(project, spec, "v1", now)
    await store.set_deployment(project, "wf", "v1", "ready", None, now)
    cron = {"kind": "schedule", "cron": "* * * * *", "timezone": "UTC", "inputs": {}, "missed": "skip"}
    await store.replace_triggers(project, "wf", "v1", [], [cron], now)
    await store.replace_routes(project, "wf", "v1", [{**HTTP, "path": f"/{project}"}])
    finished = await store.create_run(replace(new_run(), project=project), now, W)
    await drive(store, list(finished.claims))
    running = await store.create_run(replace(new_run(), project=project), now, W)
    assert {claim.project for claim in running.claims} == {project}  # a claim carries its run's project
    record = FileRecord(f"{project}/f", project, finished.run_id, "left", 1, "out", "f", "text/plain", 1, None, now)
    await store.record_files([record])
    access = SqlAlchemyAccess(store.db)
    key = {"id": f"k-{project}", "project": project, "name": "k", "role": "admin", "key_hash": f"h-{project}"}
    await access.put_api_key(key | {"created_at": now, "expires_at": None})
    await access.put_secret(project, "TOKEN", b"x", now)
    rejected = RejectedEvent(
        project=project, received_at=now, topic="t", source="/s", event_id=f"e-{project}", type="ty", reason="no"
    )
    await store.record_rejected([rejected])
    return running.run_id


async def test_a_project_is_created_once_and_listed_with_what_it_holds(store: SqlAlchemyStore) -> None:
    assert await store.create_project("alpha", time.time()) is True
    assert await store.create_project("alpha", time.time()) is False
    await store.put_workflow("alpha", {"name": "idle", "version": "v1"}, "v1", time.time())
    await _fill(store, "beta")
    listed = {p["name"]: p for p in await store.list_projects()}
    assert listed["alpha"]["workflows"] == 1 and listed["alpha"]["deployed"] == []
    assert listed["beta"]["workflows"] == 1 and listed["beta"]["deployed"] == ["wf"]
    assert [p["name"] for p in await store.list_projects(only="beta")] == ["beta"]
    assert await store.list_projects(only="nope") == []


async def test_deleting_a_project_removes_everything_of_it_and_nothing_of_another(store: SqlAlchemyStore) -> None:
    from knflow_control_plane.adapters.sqlalchemy.access import SqlAlchemyAccess

    kept_run = await _fill(store, "alpha")
    gone_run = await _fill(store, "beta")
    assert await store.delete_project("beta") is True
    assert await store.delete_project("beta") is False
    access = SqlAlchemyAccess(store.db)
    assert await store.get_run(gone_run, "beta") is None and (await store.list_runs(RunFilter("beta"))).runs == []
    assert await store.list_workflows("beta") == [] and await store.get_deployment("beta", "wf") is None
    assert await store.list_schedules("beta") == [] and await store.find_route(None, "POST", "/beta") is None
    assert await store.get_file("beta/f", "beta") is None and await access.list_api_keys("beta") == []
    assert await access.list_secrets("beta") == [] and await store.list_rejected("beta", limit=10) == []
    names = [p["name"] for p in await store.list_projects()]
    assert "beta" not in names and "alpha" in names
    # alpha is untouched: its run still runs and finishes, its records are all there
    run = await store.get_run(kept_run, "alpha")
    assert run is not None and run.status == "running"
    assert len((await store.list_runs(RunFilter("alpha"))).runs) == 2
    route = await store.find_route(None, "POST", "/alpha")
    assert route is not None and route.project == "alpha"
    assert await store.get_file("alpha/f", "alpha") is not None and len(await access.list_api_keys("alpha")) == 1
    assert len(await access.list_secrets("alpha")) == 1 and len(await store.list_schedules("alpha")) == 1
    claims = await store.claim_ready(time.time() + 3600, W)  # nothing of beta's is ever claimed again
    assert all(claim.run_id != gone_run for claim in claims)


async def test_a_hook_path_belongs_to_one_project_of_the_plane(store: SqlAlchemyStore) -> None:
    assert await store.replace_routes("alpha", "wf", "v1", [HTTP]) == []
    clashes = await store.replace_routes("beta", "other", "v1", [HTTP])
    assert clashes == ["POST /orders (used by another project)"]  # the other project's workflow is not named
    found = await store.find_route(None, "POST", "/orders")
    assert found is not None and found.project == "alpha" and found.workflow == "wf"
    assert await store.find_route("beta", "POST", "/orders") is None
    assert await store.routes_for_path("beta", "/orders") == [] and await store.routes_for_path(None, "/orders") == [
        "POST"
    ]
