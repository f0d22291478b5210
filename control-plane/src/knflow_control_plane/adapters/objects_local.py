"""The ``local`` object store: a folder on disk, and the ASGI app that serves its signed URLs.

Under ``root``: ``data/{key}`` (content), ``meta/{key}.json`` (content type, size, SHA-256, creation time,
inode of its data file) and ``tmp/`` (writes in progress, renamed into place: readers see the old object
or the new one, never a part). A reader that catches data and sidecar from two writes sees the inodes
differ and reads again. Unlike S3, a key cannot be both an object and a folder (``a``, ``a/b``): ``Conflict``.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import json
import os
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from ..errors import Conflict, ControlPlaneError
from ..objects import (
    DEFAULT_CONTENT_TYPE,
    ObjectInfo,
    ObjectNotFound,
    ObjectStream,
    TooLarge,
    UrlInvalid,
    validate_key,
    validate_prefix,
)
from . import signing

__all__ = ["CHUNK_SIZE", "LocalObjectStore", "LocalObjectsApp"]

CHUNK_SIZE = 1024 * 1024
_RACE_RETRIES = 5


class LocalObjectStore:
    """An :class:`~knflow_control_plane.objects.ObjectStore` in a folder, with self-served signed URLs.

    Args:
        root: the folder (created if missing), e.g. ``.knflow/objects``.
        base_url: the control plane's URL as functions reach it; signed URLs are ``{base_url}/v1/objects/...``.
        secret: the HMAC key for signed URLs (at least 16 bytes; keep it stable across restarts and
            replicas, or URLs already handed out stop working).
        chunk_size: bytes per read or write call (each is one hop to a worker thread).
        clock: the current Unix time (tests pass their own).

    Raises:
        ValueError: the secret is shorter than 16 bytes.
    """

    def __init__(
        self,
        root: Path,
        base_url: str,
        secret: bytes,
        *,
        chunk_size: int = CHUNK_SIZE,
        clock: Callable[[], float] = time.time,
    ):
        if len(secret) < signing.MIN_SECRET_BYTES:
            raise ValueError(f"the URL signing secret must be at least {signing.MIN_SECRET_BYTES} bytes")
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self._chunk_size = chunk_size
        self._clock = clock
        self._data = self.root / "data"
        self._meta = self.root / "meta"
        self._tmp = self.root / "tmp"
        for folder in (self._data, self._meta, self._tmp):
            folder.mkdir(parents=True, exist_ok=True)

    async def put(
        self, key: str, data: AsyncIterator[bytes] | bytes, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        """Store ``data`` under ``key`` atomically; see :meth:`ObjectStore.put`.

        Raises:
            InvalidKey: the key is malformed.
            Conflict: the key, or one of its parent folders, is already used the other way round.
            TooLarge: raised by ``data`` itself (the ASGI app's size limit); nothing is stored.
        """
        validate_key(key)
        tmp = self._tmp / f"{secrets.token_hex(8)}.part"
        hasher = hashlib.sha256()
        file = await asyncio.to_thread(tmp.open, "wb")
        try:
            size = await self._write_all(file, hasher, data)
            await asyncio.to_thread(_sync_close, file)
            return await asyncio.to_thread(self._commit, key, tmp, size, hasher.hexdigest(), content_type)
        except BaseException:
            await asyncio.to_thread(_discard, file, tmp)
            raise

    async def get(self, key: str) -> ObjectStream:
        """Open ``key`` for streamed reading; see :meth:`ObjectStore.get`."""
        file, info = await asyncio.to_thread(self._open, validate_key(key))
        chunks = self._chunks(file)
        return ObjectStream(info, chunks, chunks.aclose)

    async def info(self, key: str) -> ObjectInfo:
        """The metadata of ``key``; see :meth:`ObjectStore.info`."""
        file, info = await asyncio.to_thread(self._open, validate_key(key))
        await asyncio.to_thread(file.close)
        return info

    async def delete(self, key: str) -> None:
        """Delete ``key`` if present; see :meth:`ObjectStore.delete`."""
        await asyncio.to_thread(self._delete, validate_key(key))

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every key under ``prefix``; see :meth:`ObjectStore.delete_prefix`."""
        validate_prefix(prefix, allow_empty=False)
        return await asyncio.to_thread(self._delete_prefix, prefix)

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Objects whose key starts with ``prefix``, sorted; see :meth:`ObjectStore.list`."""
        validate_prefix(prefix)
        return await asyncio.to_thread(self._list, prefix)

    async def presign_get(self, key: str, expires_in: int) -> str:
        """A signed download URL served by :class:`LocalObjectsApp`; see :meth:`ObjectStore.presign_get`."""
        return self._url(signing.Grant("GET", validate_key(key), self._expires(expires_in)))

    async def presign_put(
        self, key: str, expires_in: int, content_type: str | None = None, max_size: int | None = None
    ) -> str:
        """A signed upload URL served by :class:`LocalObjectsApp`; see :meth:`ObjectStore.presign_put`."""
        grant = signing.Grant("PUT", validate_key(key), self._expires(expires_in), max_size, content_type)
        return self._url(grant)

    def verify(self, method: str, key: str, query: dict[str, str]) -> signing.Grant:
        """Check a request against its signed URL (for :class:`LocalObjectsApp`).

        Raises:
            InvalidKey: the path is not a valid key.
            UrlInvalid, UrlExpired: see :func:`signing.verify_query`.
        """
        return signing.verify_query(self._secret, method, validate_key(key), query, now=self._clock())

    async def close(self) -> None:
        """Nothing to release: every file is closed by the call that opened it."""

    # -- internals -------------------------------------------------------------------------------------

    def _expires(self, expires_in: int) -> int:
        if expires_in < 0:
            raise ValueError("expires_in must not be negative")
        return int(self._clock()) + int(expires_in)

    def _url(self, grant: signing.Grant) -> str:
        return signing.object_url(self._secret, self.base_url, grant)

    async def _write_all(self, file: BinaryIO, hasher: Any, data: AsyncIterator[bytes] | bytes) -> int:
        if isinstance(data, bytes | bytearray | memoryview):
            for start in range(0, len(data), self._chunk_size):
                await asyncio.to_thread(_write, file, hasher, memoryview(data)[start : start + self._chunk_size])
            return len(data)
        # Gather small network chunks into one buffer so each thread hop writes about chunk_size bytes;
        # memory stays bounded by the buffer plus one incoming chunk.
        size, buffer = 0, bytearray()
        async for chunk in data:
            size += len(chunk)
            buffer += chunk
            if len(buffer) >= self._chunk_size:
                await asyncio.to_thread(_write, file, hasher, bytes(buffer))
                buffer.clear()
        if buffer:
            await asyncio.to_thread(_write, file, hasher, bytes(buffer))
        return size

    async def _chunks(self, file: BinaryIO) -> AsyncGenerator[bytes]:
        try:
            while chunk := await asyncio.to_thread(file.read, self._chunk_size):
                yield chunk
        finally:
            await asyncio.to_thread(file.close)

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self._data / key, self._meta / f"{key}.json"

    def _commit(self, key: str, tmp: Path, size: int, sha256: str, content_type: str) -> ObjectInfo:
        data, meta = self._paths(key)
        created = datetime.now(UTC)
        record = {"size": size, "sha256": sha256, "content_type": content_type, "created": created.isoformat()}
        record["inode"] = tmp.stat().st_ino  # renames keep it: readers match the sidecar to its data by it
        meta_tmp = tmp.with_suffix(".json")
        meta_tmp.write_text(json.dumps(record))
        try:
            if data.is_dir():
                raise Conflict(f"object key {key!r} is a folder of other objects", field="key", key=key)
            _place(tmp, data)
            _place(meta_tmp, meta)
        except (NotADirectoryError, FileExistsError, IsADirectoryError) as exc:
            raise Conflict(f"a parent of object key {key!r} is itself an object", field="key", key=key) from exc
        finally:
            meta_tmp.unlink(missing_ok=True)
        return ObjectInfo(key, size, content_type, sha256, sha256, created)

    def _open(self, key: str) -> tuple[BinaryIO, ObjectInfo]:
        data, meta = self._paths(key)
        for attempt in range(_RACE_RETRIES):
            file = _open_data(key, data)
            stat = os.fstat(file.fileno())
            try:
                record = json.loads(meta.read_text())
            except (FileNotFoundError, NotADirectoryError, ValueError):
                record = {}
            if record.get("inode") == stat.st_ino:
                return file, _info(key, record)
            # Data and sidecar come from two different writes (one in flight or crashed): look again.
            file.close()
            time.sleep(0.002 * (attempt + 1))
        file = _open_data(key, data)
        stat = os.fstat(file.fileno())
        # A writer died between its two renames: describe the content without a sidecar.
        fallback = {"size": stat.st_size, "created": datetime.fromtimestamp(stat.st_mtime, UTC).isoformat()}
        return file, _info(key, {**fallback, "etag": f"{stat.st_ino:x}-{stat.st_mtime_ns:x}"})

    def _delete(self, key: str) -> None:
        data, meta = self._paths(key)
        for path in (data, meta):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                path.unlink()
        # Prune folders left empty, so that a deleted folder's name can become an object again.
        for base, start in ((self._data, data.parent), (self._meta, meta.parent)):
            folder = start
            while folder != base:
                try:
                    folder.rmdir()
                except OSError:
                    break
                folder = folder.parent

    def _delete_prefix(self, prefix: str) -> int:
        keys = self._keys(prefix)
        for key in keys:
            self._delete(key)
        return len(keys)

    def _keys(self, prefix: str) -> builtins.list[str]:
        # Walk only the deepest folder the prefix names fully, then match the rest as a string (S3 semantics).
        folder = self._data / prefix.rpartition("/")[0] if "/" in prefix else self._data
        found = (
            Path(top, name).relative_to(self._data).as_posix() for top, _, names in os.walk(folder) for name in names
        )
        return sorted(key for key in found if key.startswith(prefix))

    def _list(self, prefix: str) -> builtins.list[ObjectInfo]:
        infos = []
        for key in self._keys(prefix):
            with contextlib.suppress(ObjectNotFound):  # deleted while we listed
                file, info = self._open(key)
                file.close()
                infos.append(info)
        return infos


def _info(key: str, record: dict[str, Any]) -> ObjectInfo:
    sha256 = record.get("sha256")
    return ObjectInfo(
        key=key,
        size=int(record["size"]),
        content_type=str(record.get("content_type", DEFAULT_CONTENT_TYPE)),
        etag=str(record.get("etag", sha256)),
        sha256=sha256,
        created=datetime.fromisoformat(record["created"]),
    )


def _open_data(key: str, data: Path) -> BinaryIO:
    try:
        return data.open("rb")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        raise ObjectNotFound(f"no object {key!r}", key=key) from exc


def _place(src: Path, dst: Path) -> None:
    # A concurrent delete may prune the folder we just made between mkdir and rename: make it again.
    for _ in range(_RACE_RETRIES):
        dst.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.replace(src, dst)
            return
    os.replace(src, dst)  # one last time, letting its error out


def _write(file: BinaryIO, hasher: Any, chunk: bytes | memoryview) -> None:
    hasher.update(chunk)
    file.write(chunk)


def _sync_close(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())  # the rename must not outlive the content in a crash
    file.close()


def _discard(file: BinaryIO, tmp: Path) -> None:
    file.close()
    tmp.unlink(missing_ok=True)


class LocalObjectsApp:
    """A pure ASGI app serving :class:`LocalObjectStore`'s signed URLs (``GET``/``PUT /{key}?...``).

    Mount it at ``/v1/objects`` (``app.mount("/v1/objects", LocalObjectsApp(store))``). Errors are RFC 9457
    problems: 403 expired or tampered URL, 404 missing object, 413 over ``max_size``, 422 malformed key.

    Args:
        store: the store whose URLs this app serves.
    """

    def __init__(self, store: LocalObjectStore):
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request to a signed URL."""
        if scope["type"] != "http":  # uvicorn, told so at startup, runs the app without lifespan events
            raise RuntimeError(f"LocalObjectsApp serves HTTP, not {scope['type']}")
        method = scope["method"]
        try:
            if method not in ("GET", "PUT"):
                await _problem(send, 405, "Method not allowed", f"{method} is not served here; use GET or PUT")
                return
            path, root = str(scope["path"]), str(scope.get("root_path", ""))
            key = (path[len(root) :] if root and path.startswith(root) else path).lstrip("/")
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
            grant = self.store.verify(method, key, query)
            if method == "GET":
                await self._get(grant, send)
            else:
                await self._put(grant, scope, receive, send)
        except ConnectionResetError:
            return  # nobody is left to answer; the partial upload was discarded
        except ControlPlaneError as exc:
            title = (type(exc).__doc__ or type(exc).__name__).strip().splitlines()[0]
            await _problem(send, exc.status, title, str(exc), **exc.fields)

    async def _get(self, grant: signing.Grant, send: Send) -> None:
        async with await self.store.get(grant.key) as stream:
            info = stream.info
            headers = [(b"content-type", info.content_type.encode("latin-1")), (b"etag", f'"{info.etag}"'.encode())]
            headers.append((b"content-length", str(info.size).encode()))
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            async for chunk in stream:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    async def _put(self, grant: signing.Grant, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        sent_type = headers.get("content-type")
        if grant.content_type is not None and sent_type != grant.content_type:
            raise UrlInvalid(f"URL is signed for Content-Type {grant.content_type!r}", field="content-type")
        limit = grant.max_size
        declared = headers.get("content-length", "")
        # Refuse a declared oversize body before reading it (and before a client waiting on 100-continue sends).
        if limit is not None and declared.isdigit() and int(declared) > limit:
            raise TooLarge(f"upload of {declared} bytes is over the limit of {limit}", max_size=limit)

        async def body() -> AsyncIterator[bytes]:
            received = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ConnectionResetError("the client went away during the upload")
                chunk = message.get("body", b"")
                received += len(chunk)
                if limit is not None and received > limit:
                    raise TooLarge(f"upload is over the limit of {limit} bytes", max_size=limit)
                if chunk:
                    yield chunk
                if not message.get("more_body", False):
                    return

        info = await self.store.put(grant.key, body(), sent_type or DEFAULT_CONTENT_TYPE)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"etag", f'"{info.etag}"'.encode())]})
        await send({"type": "http.response.body", "body": b""})


async def _problem(send: Send, status: int, title: str, detail: str, **fields: object) -> None:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "field": None}
    body.update({name: value for name, value in fields.items() if isinstance(value, str | int | None)})
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/problem+json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
