"""Signed URLs refused over real HTTP: the local store's (checked by LocalObjectsApp) and S3's.

moto does not check presigned signatures or expiry (it accepts any query-string auth), so for S3 these
tests check what the URL carries: SigV4, the requested lifetime, the signed content type. The refusal
itself is S3's (or MinIO's) job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import pytest

from knflow_control_plane.adapters.objects.local import LocalObjectStore
from knflow_control_plane.adapters.objects.s3 import S3ObjectStore
from knflow_control_plane.entrypoints.statuses import status_of
from knflow_control_plane.ports.objects import ObjectStoreUnavailable

from .conftest import FakeClock


def replace_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=httpx.QueryParams(query).__str__()))


async def assert_problem(reply: httpx.Response, status: int, title: str) -> dict[str, object]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = reply.json()
    assert {"type", "title", "status", "detail", "field"} <= body.keys()
    assert (body["status"], body["title"]) == (status, title)
    return body


async def test_expired_url_is_refused(local_store: LocalObjectStore, clock: FakeClock) -> None:
    await local_store.put("e/x", b"data")
    get_url = await local_store.presign_get("e/x", 30)
    put_url = await local_store.presign_put("e/y", 30)
    clock.now += 31
    async with httpx.AsyncClient() as http:
        body = await assert_problem(await http.get(get_url), 403, "The signed URL has expired.")
        assert body["field"] == "expires"
        await assert_problem(await http.put(put_url, content=b"late"), 403, "The signed URL has expired.")
    assert [i.key for i in await local_store.list()] == ["e/x"]


@pytest.mark.parametrize(
    "tamper",
    ["sig", "expires", "method", "key", "max_size", "drop_sig"],
)
async def test_tampered_url_is_refused(local_store: LocalObjectStore, tamper: str) -> None:
    await local_store.put("t/x", b"data")
    await local_store.put("t/other", b"secret")
    url = await local_store.presign_put("t/x", 30, max_size=10)
    query = parse_qs(urlsplit(url).query)
    method = "PUT"
    if tamper == "sig":
        sig = query["sig"][0]
        url = replace_query(url, sig=("A" if sig[0] != "A" else "B") + sig[1:])
    elif tamper == "expires":
        url = replace_query(url, expires=str(int(query["expires"][0]) + 3600))
    elif tamper == "method":
        url, method = replace_query(url, method="GET"), "GET"
    elif tamper == "key":
        url = url.replace("/t/x?", "/t/other?")
    elif tamper == "max_size":
        url = replace_query(url, max_size="999999")
    else:
        url = url.split("?")[0]
    async with httpx.AsyncClient() as http:
        reply = await http.request(method, url, content=b"evil" if method == "PUT" else None)
    await assert_problem(reply, 403, "The signed URL is invalid: its signature does not match what it grants.")
    assert await (await local_store.get("t/x")).read() == b"data"
    assert await (await local_store.get("t/other")).read() == b"secret"


async def test_url_for_get_cannot_put(local_store: LocalObjectStore) -> None:
    url = await local_store.presign_get("g/x", 30)
    async with httpx.AsyncClient() as http:
        reply = await http.put(url, content=b"x")
    body = await assert_problem(reply, 403, "The signed URL is invalid: its signature does not match what it grants.")
    assert body["field"] == "method"


async def test_signed_content_type_is_enforced(local_store: LocalObjectStore) -> None:
    url = await local_store.presign_put("c/x", 30, content_type="image/png")
    async with httpx.AsyncClient() as http:
        reply = await http.put(url, content=b"x", headers={"content-type": "text/html"})
        await assert_problem(reply, 403, "The signed URL is invalid: its signature does not match what it grants.")
        ok = await http.put(url, content=b"png", headers={"content-type": "image/png"})
    assert ok.status_code == 200
    assert (await local_store.info("c/x")).content_type == "image/png"


async def test_max_size_declared_and_streamed(local_store: LocalObjectStore) -> None:
    url = await local_store.presign_put("m/x", 30, max_size=100_000)

    async def chunked(total: int) -> AsyncIterator[bytes]:
        for _ in range(total // 10_000):
            yield b"z" * 10_000

    async with httpx.AsyncClient() as http:
        declared = await http.put(url, content=b"z" * 100_001)
        body = await assert_problem(declared, 413, "The object is larger than the signed URL allows.")
        assert body["max_size"] == 100_000
        # No Content-Length (chunked): the limit is enforced while the body streams in.
        streamed = await http.put(url, content=chunked(200_000))
        await assert_problem(streamed, 413, "The object is larger than the signed URL allows.")
        exact = await http.put(url, content=b"z" * 100_000)
    assert exact.status_code == 200
    assert [i.key for i in await local_store.list()] == ["m/x"]
    assert (await local_store.info("m/x")).size == 100_000
    assert list((local_store.root / "tmp").iterdir()) == []  # refused uploads left nothing behind


async def test_method_not_allowed(local_store: LocalObjectStore) -> None:
    url = await local_store.presign_get("x", 30)
    async with httpx.AsyncClient() as http:
        reply = await http.delete(url)
    await assert_problem(reply, 405, "Method not allowed")


async def test_s3_urls_are_sigv4_with_the_requested_lifetime(s3_store: S3ObjectStore) -> None:
    get_url = await s3_store.presign_get("u/x", 123)
    put_url = await s3_store.presign_put("u/x", 45, content_type="image/png")
    get_q, put_q = parse_qs(urlsplit(get_url).query), parse_qs(urlsplit(put_url).query)
    assert urlsplit(get_url).path == f"/{s3_store.bucket}/u/x"  # path-style for a custom endpoint
    assert get_q["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert (get_q["X-Amz-Expires"], put_q["X-Amz-Expires"]) == (["123"], ["45"])
    assert len(get_q["X-Amz-Signature"][0]) == 64
    assert "content-type" in put_q["X-Amz-SignedHeaders"][0].split(";")
    assert "test" not in get_q["X-Amz-Signature"][0]  # the secret never travels


async def test_s3_unreachable_is_unavailable() -> None:
    store = S3ObjectStore("bucket", endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b", max_attempts=1)
    try:
        with pytest.raises(ObjectStoreUnavailable) as caught:
            await store.put("x", b"1")
        assert status_of(caught.value) == 503
    finally:
        await store.close()


async def test_s3_missing_bucket_is_not_created_unless_allowed(s3_store: S3ObjectStore) -> None:
    assert s3_store.endpoint_url is not None
    store = S3ObjectStore("t-never-made", endpoint_url=s3_store.endpoint_url, access_key="a", secret_key="b")
    try:
        with pytest.raises(ObjectStoreUnavailable, match="does not exist"):
            await store.info("x")
    finally:
        await store.close()


async def test_s3_prefix_isolates_installations(s3_store: S3ObjectStore) -> None:
    other = S3ObjectStore(
        s3_store.bucket, endpoint_url=s3_store.endpoint_url, access_key="a", secret_key="b", prefix="tenant/"
    )
    try:
        await other.put("k", b"mine")
        await s3_store.put("k", b"theirs")
        assert [i.key for i in await other.list()] == ["k"]
        assert await (await other.get("k")).read() == b"mine"
        assert [i.key for i in await s3_store.list()] == ["k", "tenant/k"]
    finally:
        await other.close()
