"""One contract for every ObjectStore adapter: ``local`` (served over real HTTP) and ``s3`` (moto)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator

import httpx
import pytest

from knflow_control_plane.entrypoints.statuses import status_of
from knflow_control_plane.ports.objects import InvalidKey, ObjectInfo, ObjectNotFound, ObjectStore

MiB = 1024 * 1024


async def pattern(size: int, chunk: int = 64 * 1024) -> AsyncIterator[bytes]:
    """``size`` pseudo-random bytes in ``chunk``-sized pieces, made on the fly (never held whole)."""
    seed = os.urandom(chunk)
    sent = 0
    while sent < size:
        piece = hashlib.sha256(seed + sent.to_bytes(8, "big")).digest() * (chunk // 32)
        piece = piece[: min(chunk, size - sent)]
        sent += len(piece)
        yield piece


async def sha256_of(chunks: AsyncIterator[bytes]) -> tuple[str, int, int]:
    """Digest, size and largest chunk of a stream."""
    digest, size, largest = hashlib.sha256(), 0, 0
    async for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        largest = max(largest, len(chunk))
    return digest.hexdigest(), size, largest


@pytest.mark.parametrize("data", [b"", b"hello, object store", bytes(range(256)) * 300], ids=["0B", "small", "76KB"])
async def test_put_get_round_trip(object_store: ObjectStore, data: bytes) -> None:
    put = await object_store.put("runs/r1/step/out.bin", data, "application/x-test")
    assert (put.key, put.size, put.content_type) == ("runs/r1/step/out.bin", len(data), "application/x-test")
    assert put.sha256 == hashlib.sha256(data).hexdigest()
    async with await object_store.get("runs/r1/step/out.bin") as stream:
        assert stream.info.size == len(data)
        assert await stream.read() == data
    info = await object_store.info("runs/r1/step/out.bin")
    assert (info.size, info.content_type, info.sha256, info.etag) == (
        len(data),
        "application/x-test",
        put.sha256,
        put.etag,
    )
    assert info.created.tzinfo is not None


async def test_put_get_10_mib_streamed(object_store: ObjectStore) -> None:
    source = pattern(10 * MiB)
    digest = hashlib.sha256()

    async def tee() -> AsyncIterator[bytes]:
        async for chunk in source:
            digest.update(chunk)
            yield chunk

    put = await object_store.put("big/ten.bin", tee())
    assert put.size == 10 * MiB
    assert put.sha256 == digest.hexdigest()
    assert put.content_type == "application/octet-stream"
    got, size, largest = await sha256_of(await object_store.get("big/ten.bin"))
    assert (got, size) == (digest.hexdigest(), 10 * MiB)
    assert largest <= MiB  # read in chunks, not as one blob
    assert (await object_store.info("big/ten.bin")).sha256 == digest.hexdigest()


async def test_overwrite_replaces_the_object(object_store: ObjectStore) -> None:
    await object_store.put("k/v", b"old", "text/plain")
    await object_store.put("k/v", b"new content", "application/json")
    assert await (await object_store.get("k/v")).read() == b"new content"
    assert (await object_store.info("k/v")).content_type == "application/json"


async def test_list_by_prefix(object_store: ObjectStore) -> None:
    for key in ("a/1", "a/2/x", "ab/3", "b/4"):
        await object_store.put(key, key.encode(), "text/plain")
    assert [i.key for i in await object_store.list("a/")] == ["a/1", "a/2/x"]
    assert [i.key for i in await object_store.list("a")] == ["a/1", "a/2/x", "ab/3"]
    listed = await object_store.list()
    assert [i.key for i in listed] == ["a/1", "a/2/x", "ab/3", "b/4"]
    assert all(isinstance(i, ObjectInfo) and i.content_type == "text/plain" for i in listed)
    assert [i.size for i in listed] == [3, 5, 4, 3]
    assert await object_store.list("zzz/") == []


async def test_delete(object_store: ObjectStore) -> None:
    await object_store.put("d/x", b"1")
    await object_store.delete("d/x")
    with pytest.raises(ObjectNotFound):
        await object_store.info("d/x")
    await object_store.delete("d/x")  # deleting a missing key is not an error
    # The folder's name is free again once its last object is gone.
    await object_store.put("d", b"now a file")
    assert await (await object_store.get("d")).read() == b"now a file"


async def test_delete_prefix(object_store: ObjectStore) -> None:
    for key in ("runs/1/a", "runs/1/b/c", "runs/10/a", "other"):
        await object_store.put(key, b"x")
    assert await object_store.delete_prefix("runs/1/") == 2
    assert [i.key for i in await object_store.list()] == ["other", "runs/10/a"]
    assert await object_store.delete_prefix("nothing/") == 0
    with pytest.raises(InvalidKey):
        await object_store.delete_prefix("")


async def test_missing_key(object_store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound) as caught:
        await object_store.get("no/such/key")
    assert status_of(caught.value) == 404
    assert caught.value.fields["key"] == "no/such/key"
    with pytest.raises(ObjectNotFound):
        await object_store.info("no/such/key")


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "..", "a//b", "a/./b", "a/", "a\\b", "a\x00b", "x" * 1025])
async def test_invalid_keys_are_rejected(object_store: ObjectStore, key: str) -> None:
    with pytest.raises(InvalidKey) as caught:
        await object_store.put(key, b"x")
    assert status_of(caught.value) == 422
    assert caught.value.fields["field"] == "key"
    with pytest.raises(InvalidKey):
        await object_store.get(key)
    with pytest.raises(InvalidKey):
        await object_store.presign_put(key, 60)
    assert await object_store.list() == []


async def test_presigned_get(object_store: ObjectStore) -> None:
    data = os.urandom(3 * MiB + 17)
    await object_store.put("files/in.png", data, "image/png")
    url = await object_store.presign_get("files/in.png", 60)
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.get(url)
        assert reply.status_code == 200, reply.text
        assert reply.content == data
        assert reply.headers["content-type"] == "image/png"
        assert reply.headers["content-length"] == str(len(data))
        missing = await http.get(await object_store.presign_get("files/missing.png", 60))
        assert missing.status_code == 404


async def test_presigned_put(object_store: ObjectStore) -> None:
    data = os.urandom(2 * MiB + 5)
    url = await object_store.presign_put("files/out.txt", 60, content_type="text/plain")
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.put(url, content=data, headers={"content-type": "text/plain"})
    assert reply.status_code == 200, reply.text
    assert reply.headers["etag"]
    info = await object_store.info("files/out.txt")
    assert (info.size, info.content_type) == (len(data), "text/plain")
    assert await (await object_store.get("files/out.txt")).read() == data


async def test_presigned_put_without_content_type(object_store: ObjectStore) -> None:
    url = await object_store.presign_put("files/raw", 60)
    async with httpx.AsyncClient(timeout=30) as http:
        reply = await http.put(url, content=b"raw bytes", headers={"content-type": "application/x-raw"})
    assert reply.status_code == 200, reply.text
    info = await object_store.info("files/raw")
    assert (info.size, info.content_type) == (9, "application/x-raw")
