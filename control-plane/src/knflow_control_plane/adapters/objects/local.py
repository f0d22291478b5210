"""The ``local`` object store: a folder on disk (its signed URLs are served by ``entrypoints/objects_app.py``).

Under ``root``: ``data/{key}`` (content), ``meta/{key}.json`` (content type, size, SHA-256, creation time,
inode of its data file) and ``tmp/`` (writes in progress, renamed into place: readers see the old object
or the new one, never a part). A reader that catches data and sidecar from two writes sees the inodes
differ and reads again. Unlike S3, a key cannot be both an object and a folder (``a``, ``a/b``): ``Conflict``.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import hashlib
import json
import os
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from ...errors import Conflict
from ...ports.objects import (
    DEFAULT_CONTENT_TYPE,
    ObjectInfo,
    ObjectNotFound,
    ObjectStream,
    validate_key,
    validate_prefix,
)
from . import signing

__all__ = ["CHUNK_SIZE", "LocalObjectStore"]

CHUNK_SIZE = 1024 * 1024
_RACE_RETRIES = 5


class LocalObjectStore:
    """An :class:`~knflow_control_plane.ports.objects.ObjectStore` in a folder, with self-served signed URLs.

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
        self,
        key: str,
        data: AsyncIterator[bytes] | bytes,
        content_type: str = DEFAULT_CONTENT_TYPE,
        *,
        create_only: bool = False,
    ) -> ObjectInfo:
        """Store ``data`` under ``key`` atomically; see :meth:`ObjectStore.put`. ``create_only``: never
        replace an object (a signed upload URL is one upload).

        Raises:
            InvalidKey: the key is malformed.
            Conflict: the key, or one of its parent folders, is already used the other way round; or, with
                ``create_only``, the object exists (``field``: ``url``).
            TooLarge: raised by ``data`` itself (the ASGI app's size limit); nothing is stored.
        """
        validate_key(key)
        tmp = self._tmp / f"{secrets.token_hex(8)}.part"
        hasher = hashlib.sha256()
        file = await asyncio.to_thread(tmp.open, "wb")
        try:
            size = await self._write_all(file, hasher, data)
            await asyncio.to_thread(_sync_close, file)
            commit = functools.partial(self._commit, create_only=create_only)
            return await asyncio.to_thread(commit, key, tmp, size, hasher.hexdigest(), content_type)
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

    def _commit(
        self, key: str, tmp: Path, size: int, sha256: str, content_type: str, *, create_only: bool = False
    ) -> ObjectInfo:
        data, meta = self._paths(key)
        created = datetime.now(UTC)
        record = {"size": size, "sha256": sha256, "content_type": content_type, "created": created.isoformat()}
        record["inode"] = tmp.stat().st_ino  # renames keep it: readers match the sidecar to its data by it
        meta_tmp = tmp.with_suffix(".json")
        meta_tmp.write_text(json.dumps(record))
        try:
            if data.is_dir():
                raise Conflict(f"object key {key!r} is a folder of other objects", field="key", key=key)
            if not create_only:
                _place(tmp, data)
            elif _place_new(tmp, data):
                tmp.unlink()
            else:
                raise Conflict("this upload URL was used already: it uploads once", field="url", key=key)
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


def _place_new(src: Path, dst: Path) -> bool:
    """Link ``src`` at ``dst`` unless something is there (atomically: of two uploads at once, one wins);
    whether it was placed."""
    for _ in range(_RACE_RETRIES):
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except FileExistsError:
            return False
        except FileNotFoundError:
            continue  # the folder was pruned meanwhile: make it again
        return True
    os.link(src, dst)  # one last time, letting its error out
    return True


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
