"""The files service over a real run store (SQLite, Postgres) and a real object store (local, S3 on moto):
presigned URLs in invoke events, checked file outputs with lineage, offloaded payloads, retention."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from knflow_control_plane.adapters.sqlalchemy.store import SqlAlchemyStore
from knflow_control_plane.domain.model import AttemptStatus
from knflow_control_plane.domain.records import Claim
from knflow_control_plane.ports import HttpReply
from knflow_control_plane.ports.objects import ObjectNotFound, ObjectStore
from knflow_control_plane.service.files import FileSettings, MissingFile, RunFiles
from knflow_control_plane.service.outcomes import outcome_of
from knflow_control_plane.service.retention import Retention
from knflow_runtime.contract import decode_invoke, encode_invoke, encode_result

DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def claim(step: str = "resize", number: int = 1, inputs: dict[str, Any] | None = None) -> Claim:
    return Claim(f"r1/{step}/{number}", "r1", step, number, "resize", "v1", inputs or {}, 2e9)


def reply_of(c: Claim, data: dict[str, Any]) -> HttpReply:
    headers, body = encode_invoke(c.run_id, c.step, c.number, {"inputs": {}, "deadline": "2030-01-01T00:00:00Z"}, None)
    invocation = decode_invoke(headers, body)
    out_headers, out_body = encode_result(invocation, data, c.action)  # type: ignore[arg-type]
    return HttpReply(200, dict(out_headers), out_body)


def ref(key: str, name: str = "f.bin") -> dict[str, Any]:
    return {"knflow.file": {"key": key, "name": name, "content_type": "application/octet-stream", "size": None}}


@pytest.fixture
def clock_() -> Clock:
    return Clock()


@pytest.fixture
async def files(object_store: ObjectStore, store: SqlAlchemyStore, clock_: Clock) -> RunFiles:
    spec = {"name": "resize", "version": "v1", "entrypoint": "m:resize", "output": {}, "options": {}}
    await store.put_action_version("default", spec, None, None, 0.0)
    settings = FileSettings(max_file_bytes=1000, upload_slots=2, payload_threshold=1024)
    return RunFiles(object_store, store, settings, clock=clock_)


async def test_invoke_events_carry_urls_for_input_files_and_upload_slots(files: RunFiles) -> None:
    upload = await files.upload(_chunks(b"input bytes"), "in.txt", "text/plain", "image")
    key = upload["knflow.file"]["key"]
    c = claim(inputs={"image": upload, "many": [ref(key)]})
    data = await files.invoke_data(c, {"inputs": c.inputs, "deadline": "2030-01-01T00:00:00Z"})
    assert list(data["files"]) == [key]  # one URL per key, wherever it sits
    async with httpx.AsyncClient() as http:
        assert (await http.get(data["files"][key]["get"])).content == b"input bytes"
        spare = data["spare"]
        assert [s["key"] for s in spare] == ["runs/r1/resize/1/~0", "runs/r1/resize/1/~1"]
        put = await http.put(spare[0]["put"], content=b"out", headers={"content-type": "text/plain"})
        assert put.status_code == 200
    assert (await (await files.objects.get("runs/r1/resize/1/~0")).read()) == b"out"


async def test_a_missing_input_file_is_named_with_its_step_and_input(files: RunFiles) -> None:
    c = claim(inputs={"cfg": {"nested": ref("uploads/none/x.bin")}})
    with pytest.raises(MissingFile) as caught:
        await files.invoke_data(c, {"inputs": c.inputs, "deadline": "2030-01-01T00:00:00Z"})
    assert str(caught.value) == "step 'resize' input 'cfg.nested': file 'uploads/none/x.bin' does not exist"


async def test_a_file_of_another_project_is_missing_to_a_run_and_gets_no_url(files: RunFiles) -> None:
    theirs = await files.upload(_chunks(b"secret"), "b.txt", None, "data", project="other")
    c = claim(inputs={"photo": theirs})
    with pytest.raises(MissingFile) as caught:
        await files.invoke_data(c, {"inputs": c.inputs, "deadline": "2030-01-01T00:00:00Z"})
    key = theirs["knflow.file"]["key"]
    assert str(caught.value) == f"step 'resize' input 'photo': file {key!r} does not exist"  # as if it were not there
    in_other = Claim("r2/resize/1", "r2", "resize", 1, "resize", "v1", {"photo": theirs}, 2e9, project="other")
    data = await files.invoke_data(in_other, {"inputs": in_other.inputs, "deadline": "2030-01-01T00:00:00Z"})
    assert list(data["files"]) == [key]  # its own project's run gets it


async def test_an_upstream_file_of_the_same_run_needs_no_record(files: RunFiles) -> None:
    await files.objects.put("runs/r1/make/1/out.bin", b"made", "application/octet-stream")
    c = claim(inputs={"made": ref("runs/r1/make/1/out.bin")})
    data = await files.invoke_data(c, {"inputs": c.inputs, "deadline": "2030-01-01T00:00:00Z"})
    assert list(data["files"]) == ["runs/r1/make/1/out.bin"]
    stranger = claim(inputs={"made": ref("runs/r0/make/1/out.bin")})
    await files.objects.put("runs/r0/make/1/out.bin", b"made", "application/octet-stream")
    with pytest.raises(MissingFile, match=r"input 'made': file 'runs/r0/make/1/out\.bin' does not exist"):
        await files.invoke_data(stranger, {"inputs": stranger.inputs, "deadline": "2030-01-01T00:00:00Z"})


async def test_file_outputs_are_checked_and_recorded_with_lineage(files: RunFiles, store: SqlAlchemyStore) -> None:
    c = claim(number=2, inputs={"src": ref("uploads/a/in.txt", "in.txt")})
    await files.objects.put("runs/r1/resize/2/~0", b"12345", "image/png")
    outputs = {"thumb": ref("runs/r1/resize/2/~0", "t.png"), "same": ref("uploads/a/in.txt", "in.txt")}
    outcome = outcome_of(await files.settle(c, reply_of(c, {"outputs": outputs, "logs": ""})))
    assert outcome.status is AttemptStatus.SUCCEEDED and outcome.outputs is not None
    assert outcome.outputs["thumb"]["knflow.file"]["size"] == 5  # the store's word
    [record] = await store.list_files("r1", "default")
    assert (record.key, record.step, record.attempt, record.field, record.name) == (
        "runs/r1/resize/2/~0",
        "resize",
        2,
        "thumb",
        "t.png",
    )
    assert (record.size, record.content_type) == (5, "image/png")


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({"x": ref("runs/other/step/1/~0")}, "is neither one of the step's inputs nor a file it uploaded"),
        ({"x": ref("runs/r1/resize/1/~1")}, "was never uploaded"),
        ({"x": ref("runs/r1/resize/1/~0")}, "1001 bytes is over the file size limit of 1000 bytes"),
    ],
)
async def test_bad_file_outputs_fail_the_step_without_retry(
    files: RunFiles, outputs: dict[str, Any], message: str
) -> None:
    await files.objects.put("runs/r1/resize/1/~0", b"x" * 1001)
    c = claim()
    outcome = outcome_of(await files.settle(c, reply_of(c, {"outputs": outputs, "logs": ""})))
    assert outcome.status is AttemptStatus.FAILED and outcome.error is not None
    assert outcome.error["type"] == "OutputError" and outcome.error["retryable"] is False
    assert outcome.error["message"].startswith("step 'resize' output 'x': ") and message in outcome.error["message"]
    if "limit" in message:
        with pytest.raises(ObjectNotFound):
            await files.objects.info("runs/r1/resize/1/~0")  # an oversize upload is not kept


async def test_large_outputs_and_logs_are_offloaded_and_fetched_back(files: RunFiles) -> None:
    c = claim()
    big = list(range(1000))
    outcome = outcome_of(await files.settle(c, reply_of(c, {"outputs": {"big": big, "n": 3}, "logs": "y" * 5000})))
    assert outcome.outputs is not None
    assert outcome.outputs["n"] == 3
    assert outcome.outputs["big"] == {"knflow.payload": {"key": "payloads/r1/resize/1/outputs/big.json", "size": 3891}}
    assert outcome.logs == "[knflow.payload] payloads/r1/resize/1/logs.txt"
    assert await files.payloads.resolve(outcome.outputs) == {"big": big, "n": 3}
    assert await files.payloads.resolve_logs(outcome.logs) == "y" * 5000
    # A downstream step bound to the offloaded output gets the value itself.
    downstream = claim("sum", inputs={"numbers": outcome.outputs["big"]})
    data = await files.invoke_data(downstream, {"inputs": downstream.inputs, "deadline": "2030-01-01T00:00:00Z"})
    assert data["inputs"] == {"numbers": big}


async def test_retention_deletes_old_files_and_says_so(files: RunFiles, store: SqlAlchemyStore, clock_: Clock) -> None:
    old = await files.upload(_chunks(b"old"), "old.txt", None, "data")
    clock_.now += 3 * DAY
    new = await files.upload(_chunks(b"new"), "new.txt", None, "data")
    retention = Retention(files.objects, store, "default", days=2, holder="w", clock=clock_)
    assert await retention.sweep() == 1
    assert await retention.sweep() == 0
    old_key, new_key = old["knflow.file"]["key"], new["knflow.file"]["key"]
    with pytest.raises(ObjectNotFound):
        await files.objects.info(old_key)
    assert (await files.objects.info(new_key)).size == 3
    listed = await files.run_files("r9", {"a": old, "b": new})
    assert [(f["name"], f["expired_at"] is not None, f["url"] is None) for f in listed] == [
        ("old.txt", True, True),
        ("new.txt", False, False),
    ]
    c = claim(inputs={"data": old})
    with pytest.raises(MissingFile, match=r"input .data.: file .* was deleted by the file retention policy at"):
        await files.invoke_data(c, {"inputs": c.inputs, "deadline": "2030-01-01T00:00:00Z"})


async def _chunks(data: bytes) -> Any:
    yield data
