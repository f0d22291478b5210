"""The ``s3`` object store: AWS S3 or any S3-compatible server (MinIO, moto) through aiobotocore.

Large puts stream as multipart uploads of 8 MiB parts (S3's parts must be at least 5 MiB), so memory
stays at one part whatever the object's size; objects under one part are a single PutObject. The SHA-256
computed on the way is kept as the object's ``x-amz-meta-sha256``. Presigned URLs are S3's own SigV4
query-string URLs: the server checks them, and the control plane is out of the data path.

aiobotocore is imported lazily, on the first call, so a control plane on the ``local`` store never loads it.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import hashlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

from ...ports.objects import (
    DEFAULT_CONTENT_TYPE,
    ObjectInfo,
    ObjectNotFound,
    ObjectStoreUnavailable,
    ObjectStream,
    validate_key,
    validate_prefix,
)

__all__ = ["CHUNK_SIZE", "PART_SIZE", "S3ObjectStore"]

PART_SIZE = 8 * 1024 * 1024
CHUNK_SIZE = 1024 * 1024
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_HEADS_IN_FLIGHT = 16
_MAX_COPY = 5 * 1024**3


class S3ObjectStore:
    """An :class:`~knflow_control_plane.ports.objects.ObjectStore` on an S3 bucket.

    Args:
        bucket: the bucket name.
        endpoint_url: an S3-compatible server (MinIO, moto); ``None`` for AWS. When set, path-style
            addressing is used (``{endpoint}/{bucket}/{key}``), which such servers expect.
        region: the bucket's region.
        access_key: the access key id; ``None`` uses botocore's usual chain (env, profile, instance role).
        secret_key: the secret access key.
        prefix: prepended to every key, so several installations can share a bucket (``"knflow/"``).
        create_bucket: create the bucket on first use when it is missing (development and tests).
        part_size: bytes per multipart part (at least 5 MiB, S3's minimum).
        max_attempts: tries per request, retries included (botocore's standard mode backs off between them).
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key: str | None = None,
        secret_key: str | None = None,
        prefix: str = "",
        *,
        create_bucket: bool = False,
        part_size: int = PART_SIZE,
        max_attempts: int = 3,
    ):
        if prefix:
            validate_prefix(prefix)
        if part_size < 5 * 1024 * 1024:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self.prefix = prefix
        self._access_key = access_key
        self._secret_key = secret_key
        self._create_bucket = create_bucket
        self._part_size = part_size
        self._max_attempts = max_attempts
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Open the client and check the bucket (creating it if allowed); later calls do nothing.

        Raises:
            ObjectStoreUnavailable: the server cannot be reached, or the bucket is missing and may not be created.
        """
        async with self._lock:
            if self._client is None:
                self._client = await self._open_client()

    async def put(
        self, key: str, data: AsyncIterator[bytes] | bytes, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        """Store ``data`` under ``key``; see :meth:`ObjectStore.put`."""
        client = await self._ready()
        name = self._name(validate_key(key))
        hasher = hashlib.sha256()
        chunks = _chunks_of(data) if isinstance(data, bytes | bytearray | memoryview) else data
        first, size = await self._fill(chunks, hasher, bytearray())
        with self._translated(key):
            if len(first) < self._part_size:
                # The whole object fits in one part: one request, no multipart bookkeeping.
                meta = {"sha256": hasher.hexdigest()}
                reply = await client.put_object(
                    Bucket=self.bucket, Key=name, Body=bytes(first), ContentType=content_type, Metadata=meta
                )
            else:
                reply, size = await self._multipart(client, name, chunks, hasher, first, size, content_type)
        return ObjectInfo(key, size, content_type, _etag(reply), hasher.hexdigest(), datetime.now(UTC))

    async def get(self, key: str) -> ObjectStream:
        """Open ``key`` for streamed reading; see :meth:`ObjectStore.get`."""
        client = await self._ready()
        with self._translated(validate_key(key)):
            reply = await client.get_object(Bucket=self.bucket, Key=self._name(key))
        body = reply["Body"]
        chunks = self._read_body(key, body)
        return ObjectStream(self._info(key, reply), chunks, chunks.aclose)

    async def info(self, key: str) -> ObjectInfo:
        """The metadata of ``key``; see :meth:`ObjectStore.info`."""
        client = await self._ready()
        with self._translated(validate_key(key)):
            reply = await client.head_object(Bucket=self.bucket, Key=self._name(key))
        return self._info(key, reply)

    async def delete(self, key: str) -> None:
        """Delete ``key`` if present; see :meth:`ObjectStore.delete`."""
        client = await self._ready()
        with self._translated(validate_key(key)):
            await client.delete_object(Bucket=self.bucket, Key=self._name(key))

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``, 1000 per request; see :meth:`ObjectStore.delete_prefix`."""
        validate_prefix(prefix, allow_empty=False)
        client = await self._ready()
        keys = await self._keys(prefix)
        with self._translated(prefix):
            for start in range(0, len(keys), 1000):
                batch = [{"Key": self._name(key)} for key in keys[start : start + 1000]]
                await client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        return len(keys)

    async def list(self, prefix: str = "") -> builtins.list[ObjectInfo]:
        """Objects whose key starts with ``prefix``, sorted; see :meth:`ObjectStore.list`.

        Listing does not return content types, so each object is also HEAD-ed (16 at a time).
        """
        validate_prefix(prefix)
        keys = await self._keys(prefix)
        limit = asyncio.Semaphore(_HEADS_IN_FLIGHT)

        async def head(key: str) -> ObjectInfo | None:
            async with limit:
                try:
                    return await self.info(key)
                except ObjectNotFound:
                    return None  # deleted while we listed

        infos = await asyncio.gather(*(head(key) for key in keys))
        return [info for info in infos if info is not None]

    async def presign_get(self, key: str, expires_in: int) -> str:
        """A SigV4 presigned download URL; see :meth:`ObjectStore.presign_get`."""
        client = await self._ready()
        params = {"Bucket": self.bucket, "Key": self._name(validate_key(key))}
        url: str = await client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        return url

    async def presign_put(
        self, key: str, expires_in: int, content_type: str | None = None, max_size: int | None = None
    ) -> str:
        """A SigV4 presigned upload URL that only creates; see :meth:`ObjectStore.presign_put`.

        The URL signs the header ``If-None-Match: *`` (S3's conditional write): the uploader must send it
        (without it the signature does not match: 403), and with it a second PUT of the same URL finds the
        object and answers 412, so a finished run's output cannot be replaced through its own URL.
        ``max_size`` is not enforced: a presigned PUT can only pin an exact length. Check
        ``info(key).size`` after the upload.
        """
        client = await self._ready()
        params = {"Bucket": self.bucket, "Key": self._name(validate_key(key)), "IfNoneMatch": "*"}
        if content_type is not None:
            params["ContentType"] = content_type
        url: str = await client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_in)
        return url

    async def close(self) -> None:
        """Close the client and its connection pool."""
        async with self._lock:
            await self._stack.aclose()
            self._client = None

    # -- internals -------------------------------------------------------------------------------------

    async def _open_client(self) -> Any:
        # Lazy: only an s3:// store pays for importing botocore (about 0.3 s).
        from aiobotocore.config import AioConfig

        config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
            retries={"max_attempts": self._max_attempts, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        )
        creator = _session().create_client(
            "s3",
            region_name=self.region,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self._access_key,
            aws_secret_access_key=self._secret_key,
            config=config,
        )
        client = await self._stack.enter_async_context(creator)
        try:
            with self._translated(None):
                await self._check_bucket(client)
        except BaseException:
            await self._stack.aclose()
            raise
        return client

    async def _check_bucket(self, client: Any) -> None:
        from botocore.exceptions import ClientError

        try:
            await client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                raise
            if not self._create_bucket:
                raise ObjectStoreUnavailable(f"bucket {self.bucket!r} does not exist", bucket=self.bucket) from exc
            extra = (
                {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
            )
            await client.create_bucket(Bucket=self.bucket, **extra)

    async def _ready(self) -> Any:
        if self._client is None:
            await self.start()
        return self._client

    def _name(self, key: str) -> str:
        return self.prefix + key

    async def _fill(self, chunks: AsyncIterator[bytes], hasher: Any, buffer: bytearray) -> tuple[bytearray, int]:
        """Read from ``chunks`` until ``buffer`` holds a part (or the data ends); return it and the bytes read."""
        size = 0
        while len(buffer) < self._part_size:
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            hasher.update(chunk)
            buffer += chunk
            size += len(chunk)
        return buffer, size

    async def _multipart(
        self,
        client: Any,
        name: str,
        chunks: AsyncIterator[bytes],
        hasher: Any,
        buffer: bytearray,
        size: int,
        content_type: str,
    ) -> tuple[dict[str, Any], int]:
        upload = await client.create_multipart_upload(Bucket=self.bucket, Key=name, ContentType=content_type)
        upload_id = upload["UploadId"]
        parts: builtins.list[dict[str, Any]] = []
        try:
            while buffer:
                # One copy per part (what botocore sends) and the buffer trimmed in place: about two parts
                # in memory at any time, whatever the object's size.
                with memoryview(buffer) as view:
                    part = bytes(view[: self._part_size])
                del buffer[: self._part_size]
                reply = await client.upload_part(
                    Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=len(parts) + 1, Body=part
                )
                parts.append({"PartNumber": len(parts) + 1, "ETag": reply["ETag"]})
                buffer, more = await self._fill(chunks, hasher, buffer)
                size += more
            reply = await client.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException:
            # An abandoned upload keeps its parts (and their storage bill) until aborted.
            with contextlib.suppress(Exception):
                await client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            raise
        if size > _MAX_COPY:
            return reply, size  # CopyObject stops at 5 GiB: such objects go without a recorded SHA-256
        # S3 cannot add metadata after the fact and the digest is known only now: copy onto itself.
        await client.copy_object(
            Bucket=self.bucket,
            Key=name,
            CopySource={"Bucket": self.bucket, "Key": name},
            Metadata={"sha256": hasher.hexdigest()},
            MetadataDirective="REPLACE",
            ContentType=content_type,
        )
        return reply, size

    async def _read_body(self, key: str, body: Any) -> AsyncGenerator[bytes, None]:
        try:
            while True:
                with self._translated(key):
                    chunk: bytes = await body.read(CHUNK_SIZE)
                if not chunk:
                    return
                yield chunk
        finally:
            await body.aclose()

    async def _keys(self, prefix: str) -> builtins.list[str]:
        client = await self._ready()
        keys: builtins.list[str] = []
        with self._translated(prefix):
            paginator = client.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=self._name(prefix)):
                keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        return sorted(keys)

    def _info(self, key: str, reply: dict[str, Any]) -> ObjectInfo:
        modified = reply.get("LastModified")
        return ObjectInfo(
            key=key,
            size=int(reply["ContentLength"]),
            content_type=reply.get("ContentType") or DEFAULT_CONTENT_TYPE,
            etag=_etag(reply),
            sha256=reply.get("Metadata", {}).get("sha256"),
            created=modified.astimezone(UTC) if isinstance(modified, datetime) else datetime.now(UTC),
        )

    @contextlib.contextmanager
    def _translated(self, key: str | None) -> Iterator[None]:
        """Turn botocore and network errors into the port's errors, at the adapter's edge."""
        from aiohttp import ClientError as HttpError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = _code(exc)
            if code in _MISSING and key is not None:
                raise ObjectNotFound(f"no object {key!r}", key=key) from exc
            raise ObjectStoreUnavailable(f"S3 refused the request ({code}): {exc}", code=code) from exc
        except (BotoCoreError, HttpError, OSError, TimeoutError) as exc:
            raise ObjectStoreUnavailable(f"S3 at {self.endpoint_url or 'AWS'} is unreachable: {exc}") from exc


@functools.cache
def _session() -> Any:
    """One botocore session per process: it caches the parsed service models (about 0.3 s per new one)."""
    from aiobotocore.session import get_session

    return get_session()


async def _chunks_of(data: bytes | bytearray | memoryview) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), PART_SIZE):
        yield bytes(view[start : start + PART_SIZE])


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _etag(reply: dict[str, Any]) -> str:
    return str(reply.get("ETag", "")).strip('"')
