"""File records of runs: lineage kept per key (a replay replaces it), listed per run and project, expired
by the retention policy."""

from __future__ import annotations

from knflow_control_plane.domain.files import FileRecord
from knflow_control_plane.ports import FileRecords


def record(key: str, run_id: str | None = "r1", created_at: float = 100.0, project: str = "default") -> FileRecord:
    return FileRecord(
        key=key,
        project=project,
        run_id=run_id,
        step="resize" if run_id else None,
        attempt=1 if run_id else None,
        field="thumbnail",
        name=key.rsplit("/", 1)[-1],
        content_type="image/png",
        size=1234,
        sha256="ab" * 32,
        created_at=created_at,
    )


async def test_a_run_lists_its_files_oldest_first_and_only_in_its_project(file_records: FileRecords) -> None:
    await file_records.record_files([record("runs/r1/b.png", created_at=200.0), record("runs/r1/a.png")])
    await file_records.record_files([record("runs/r2/c.png", run_id="r2"), record("o/x.png", project="other")])
    assert [r.key for r in await file_records.list_files("r1", "default")] == ["runs/r1/a.png", "runs/r1/b.png"]
    assert await file_records.get_file("runs/r1/a.png", "default") == record("runs/r1/a.png")
    assert await file_records.get_file("runs/r1/a.png", "other") is None
    assert await file_records.get_file("o/x.png", "default") is None
    assert await file_records.get_file("nothing", "default") is None


async def test_a_replayed_attempt_replaces_the_record_of_the_same_key(file_records: FileRecords) -> None:
    await file_records.record_files([record("runs/r1/a.png")])
    again = FileRecord(**{**vars(record("runs/r1/a.png")), "size": 99, "created_at": 150.0})
    await file_records.record_files([again])
    assert await file_records.list_files("r1", "default") == [again]
    await file_records.record_files([])


async def test_retention_finds_old_kept_files_and_marks_them_expired(file_records: FileRecords) -> None:
    await file_records.record_files([record(f"k{i}", created_at=100.0 + i) for i in range(4)])
    await file_records.record_files([record("upload", run_id=None, created_at=50.0)])
    old = await file_records.files_created_before("default", 102.0, limit=10)
    assert [r.key for r in old] == ["upload", "k0", "k1"]
    assert [r.key for r in await file_records.files_created_before("default", 102.0, limit=1)] == ["upload"]
    await file_records.mark_files_expired(["upload", "k0"], 500.0)
    await file_records.mark_files_expired([], 500.0)
    assert [r.key for r in await file_records.files_created_before("default", 102.0, limit=10)] == ["k1"]
    expired = await file_records.get_file("k0", "default")
    assert expired is not None and expired.expired_at == 500.0
    assert await file_records.files_created_before("other", 1_000.0, limit=10) == []


async def test_an_upload_is_found_only_in_the_project_it_was_made_in(file_records: FileRecords) -> None:
    """The lookup that scopes a run's input files: one key, answered only for its own project."""
    await file_records.record_files([record("uploads/u1/b.txt", run_id=None, project="b")])
    await file_records.record_files([record("runs/ra/make/1/out.png", run_id="ra", project="a")])
    found = await file_records.get_file("uploads/u1/b.txt", "b")
    assert found is not None and found.project == "b" and found.run_id is None
    assert await file_records.get_file("uploads/u1/b.txt", "a") is None
    assert await file_records.get_file("runs/ra/make/1/out.png", "b") is None
    assert (await file_records.get_file("runs/ra/make/1/out.png", "a")) == record(
        "runs/ra/make/1/out.png", run_id="ra", project="a"
    )
