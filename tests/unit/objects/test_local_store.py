"""The local store's own edges: folder/object clashes, a writer that died, an aborted upload."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from knflow_control_plane.adapters.objects.local import LocalObjectStore
from knflow_control_plane.errors import Conflict
from knflow_control_plane.ports.objects import ObjectStore, TooLarge

SECRET = b"unit-test-secret-0123456789"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalObjectStore]:
    store = LocalObjectStore(tmp_path, "http://cp", SECRET)
    yield store
    await store.close()


def test_is_an_object_store(store: LocalObjectStore) -> None:
    assert isinstance(store, ObjectStore)


def test_short_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        LocalObjectStore(tmp_path, "http://cp", b"short")


async def test_object_and_folder_cannot_share_a_name(store: LocalObjectStore) -> None:
    await store.put("a/b", b"1")
    with pytest.raises(Conflict, match="folder"):
        await store.put("a", b"2")
    await store.put("c", b"3")
    with pytest.raises(Conflict, match="parent"):
        await store.put("c/d", b"4")
    assert [i.key for i in await store.list()] == ["a/b", "c"]
    assert list((store.root / "tmp").iterdir()) == []


async def test_sidecar_of_another_write_is_not_trusted(store: LocalObjectStore) -> None:
    await store.put("k", b"content", "text/plain")
    meta = store.root / "meta" / "k.json"
    record = json.loads(meta.read_text())
    meta.write_text(json.dumps({**record, "inode": -1, "size": 999}))  # as if a writer died between renames
    info = await store.info("k")
    assert (info.size, info.sha256, info.content_type) == (7, None, "application/octet-stream")
    assert await (await store.get("k")).read() == b"content"


async def test_failed_upload_leaves_the_old_object(store: LocalObjectStore) -> None:
    await store.put("k", b"old")

    async def too_big() -> AsyncIterator[bytes]:
        yield b"partial"
        raise TooLarge("over", max_size=1)

    with pytest.raises(TooLarge):
        await store.put("k", too_big())
    assert await (await store.get("k")).read() == b"old"
    assert list((store.root / "tmp").iterdir()) == []


async def test_stream_closed_early_releases_the_file(store: LocalObjectStore) -> None:
    await store.put("k", b"x" * 3_000_000)
    store_small = LocalObjectStore(store.root, "http://cp", SECRET, chunk_size=1_000_000)
    async with await store_small.get("k") as stream:
        assert len(await anext(stream)) == 1_000_000
    assert stream._closed


async def test_presigned_url_shape(store: LocalObjectStore) -> None:
    url = await store.presign_put("runs/x.png", 60, content_type="image/png", max_size=5)
    assert url.startswith("http://cp/v1/objects/runs/x.png?method=PUT&expires=")
    assert "max_size=5" in url
    assert "content_type=image%2Fpng" in url
    assert "&sig=" in url
    with pytest.raises(ValueError, match="negative"):
        await store.presign_get("k", -1)
