"""A signed upload URL is one upload: used again (to overwrite a finished run's output, say) it is refused,
and what was stored stays as it was recorded."""

from __future__ import annotations

import hashlib
from hashlib import sha256
from urllib.parse import parse_qs, urlsplit

import httpx

from knflow_control_plane.adapters.objects.local import LocalObjectStore
from knflow_control_plane.adapters.objects.s3 import S3ObjectStore


async def test_a_signed_put_url_uploads_once(local_store: LocalObjectStore) -> None:
    url = await local_store.presign_put("runs/r1/s/1/out.bin", 60, max_size=1024)
    async with httpx.AsyncClient() as http:
        first = await http.put(url, content=b"the output")
        assert first.status_code == 200, first.text
        again = await http.put(url, content=b"an overwrite")
        assert again.status_code == 409, again.text
        assert again.headers["content-type"] == "application/problem+json"
        assert again.json()["field"] == "url"
    info = await local_store.info("runs/r1/s/1/out.bin")
    assert info.size == len(b"the output") and info.sha256 == hashlib.sha256(b"the output").hexdigest()
    async for chunk in await local_store.get("runs/r1/s/1/out.bin"):
        assert chunk == b"the output"


CREATE_ONLY = {"If-None-Match": "*"}


async def test_an_s3_presigned_put_url_uploads_once(s3_store: S3ObjectStore) -> None:
    # The moto server of scripts/services/s3.sh honours S3's conditional write (a second PUT: 412).
    url = await s3_store.presign_put("runs/r1/s/1/out.bin", 60, max_size=1024)
    async with httpx.AsyncClient() as http:
        first = await http.put(url, content=b"the output", headers=CREATE_ONLY)
        assert first.status_code == 200, first.text
        again = await http.put(url, content=b"an overwrite", headers=CREATE_ONLY)
        assert again.status_code == 412, again.text
        assert "PreconditionFailed" in again.text
    info = await s3_store.info("runs/r1/s/1/out.bin")
    assert info.size == len(b"the output")
    assert b"".join([chunk async for chunk in await s3_store.get("runs/r1/s/1/out.bin")]) == b"the output"


async def test_an_s3_presigned_put_url_cannot_be_used_without_its_create_only_header(
    s3_store: S3ObjectStore,
) -> None:
    # The header is one the URL signs: S3 refuses a PUT without it (SignatureDoesNotMatch). moto checks no
    # presigned signature, so this is proven with botocore's own SigV4 signer: the URL's signature is the
    # one of a request carrying the header, and differs from the one of a request without it.
    url = await s3_store.presign_put("runs/r1/s/1/out.bin", 60)
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-SignedHeaders"] == ["host;if-none-match"]
    assert signature_of(url, {"If-None-Match": "*"}) == query["X-Amz-Signature"][0]
    assert signature_of(url, {}) != query["X-Amz-Signature"][0]


def signature_of(url: str, headers: dict[str, str]) -> str:
    """The SigV4 query signature of a PUT of ``url`` (its own date and scope) with ``headers``, as S3
    computes it when checking the request (credentials of the test server)."""
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    signed = query["X-Amz-SignedHeaders"][0].split(";")
    request = AWSRequest("PUT", f"{parts.scheme}://{parts.netloc}{parts.path}", headers=headers)
    request.context["timestamp"] = query["X-Amz-Date"][0]
    auth = S3SigV4QueryAuth(Credentials("test", "test"), "s3", "us-east-1", expires=int(query["X-Amz-Expires"][0]))
    # The server signs the headers the URL names, with the values the request carries.
    canonical_headers = "".join(
        f"{name}:{request.headers.get(name, parts.netloc if name == 'host' else '')}\n" for name in signed
    )
    canonical = "\n".join(
        [
            "PUT",
            parts.path,
            auth._canonical_query_string_url(urlsplit(url.split("&X-Amz-Signature=", maxsplit=1)[0])),
            canonical_headers,
            ";".join(signed),
            "UNSIGNED-PAYLOAD",
        ]
    )
    scope = query["X-Amz-Credential"][0].split("/", 1)[1]
    to_sign = "\n".join(["AWS4-HMAC-SHA256", query["X-Amz-Date"][0], scope, sha256(canonical.encode()).hexdigest()])
    signature: str = auth.signature(to_sign, request)
    return signature
