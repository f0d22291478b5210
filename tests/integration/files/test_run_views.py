"""The light view of a run and a step's full record over a real run store (SQLite, Postgres) and a real
object store (local, S3 on moto), its reads counted by a seam above the adapter: the light view reads no
payload back, the step's record reads its own."""

from __future__ import annotations

from typing import Any, cast

import pytest

from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.errors import NotFound
from knflow_control_plane.ports.objects import ObjectStore, ObjectStream
from knflow_control_plane.service import run_views
from knflow_control_plane.service.files import FileSettings, RunFiles

BIG = [{"index": n, "thumbnail": f"thumb-{n:05d}.png"} for n in range(200)]  # over the 1 KiB threshold


class CountedReads:
    """The real object store; every ``get`` is noted, then handed to it."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.reads: list[str] = []

    async def get(self, key: str) -> ObjectStream:
        self.reads.append(key)
        return await self.inner.get(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def counted(object_store: ObjectStore) -> CountedReads:
    return CountedReads(object_store)


@pytest.fixture
def files(counted: CountedReads, store: SqlAlchemyStore) -> RunFiles:
    settings = FileSettings(max_file_bytes=1000, upload_slots=2, payload_threshold=1024)
    return RunFiles(cast(ObjectStore, counted), store, settings)


async def a_run(files: RunFiles) -> dict[str, Any]:
    """A run's JSON as ``run_json`` makes it: a map step whose joined output, and so the run's result, is
    offloaded; its attempt's inputs, outputs and logs offloaded too; small inputs."""
    joined = await files.payloads.offload(BIG, "payloads/r1/square/1/outputs/result.json")
    logs = await files.payloads.offload_logs("squared\n" * 400, "payloads/r1/square/1/logs.txt")
    attempt = {"id": "a1", "number": 1, "status": "succeeded", "inputs": {"numbers": joined}}
    attempt |= {"outputs": {"result": joined}, "error": None, "logs": logs}
    square = {"name": "square", "status": "succeeded", "outputs": {"result": joined}, "attempts": [attempt]}
    square["map"] = {"total": 200, "succeeded": 200, "failed": 0, "running": 0, "pending": 0, "skipped": 0}
    first = {"name": "first", "status": "succeeded", "outputs": {"n": 1}, "attempts": []}
    return {"id": "r1", "project": "default", "inputs": {"n": 200}, "result": joined, "steps": [first, square]}


async def test_the_light_view_leaves_payloads_out_and_reads_none_of_them(
    files: RunFiles, counted: CountedReads
) -> None:
    run = await run_views.light_run(files, await a_run(files))
    assert counted.reads == []  # no payload fetched back
    stored = (await counted.inner.info("payloads/r1/square/1/outputs/result.json")).size
    assert run["omitted"] == {"result": stored}  # the size recorded with the reference, read from it
    assert run["result"] is None
    assert run["inputs"] == {"n": 200}  # small: kept
    assert run["files"] == {"count": 0, "expired_at": None}
    square = {s["name"]: s for s in run["steps"]}["square"]
    assert square["outputs"] is None
    assert square["map"]["total"] == 200  # the shape stays: statuses, counts
    assert square["attempts"][0] == {
        "id": "a1",
        "number": 1,
        "status": "succeeded",
        "inputs": None,
        "outputs": None,
        "error": None,
        "logs": "",
    }


async def test_a_large_inline_result_is_left_out_with_its_size(files: RunFiles, counted: CountedReads) -> None:
    run = {"id": "r2", "project": "default", "inputs": {}, "result": {"text": "x" * 20_000}, "steps": []}
    light = await run_views.light_run(files, run)
    assert light["omitted"] == {"result": len('{"text":""}') + 20_000}
    assert light["result"] is None
    small = await run_views.light_run(files, {"id": "r3", "inputs": {}, "result": {"ok": True}, "steps": []})
    assert small["result"] == {"ok": True}
    assert small["omitted"] == {}
    assert counted.reads == []


async def test_a_step_s_full_record_fetches_its_payloads_back(files: RunFiles, counted: CountedReads) -> None:
    step = await run_views.full_step(files, await a_run(files), "square")
    assert step["outputs"] == {"result": BIG}
    attempt = step["attempts"][0]
    assert attempt["inputs"] == {"numbers": BIG}
    assert attempt["outputs"] == {"result": BIG}
    assert attempt["logs"] == "squared\n" * 400
    assert sorted(set(counted.reads)) == ["payloads/r1/square/1/logs.txt", "payloads/r1/square/1/outputs/result.json"]


async def test_an_unknown_step_is_not_found_naming_the_step(files: RunFiles) -> None:
    with pytest.raises(NotFound) as caught:
        await run_views.full_step(files, await a_run(files), "nope")
    assert caught.value.fields == {"field": "step"}
    assert "nope" in str(caught.value)
