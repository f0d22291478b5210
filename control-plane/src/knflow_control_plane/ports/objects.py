"""The object store port: where ``File`` values live between steps, and its shared vocabulary.

Files travel between steps by reference. A function never holds storage credentials: the control plane
puts presigned GET/PUT URLs into the invoke event and the function reads and writes through them. Two
adapters implement :class:`ObjectStore`: ``adapters/objects/local.py`` (a folder; the control plane serves
its own signed URLs) and ``adapters/objects/s3.py`` (S3 or MinIO; the server checks the URLs).

Keys are POSIX-like relative paths (``runs/r1/resize/thumbnail.png``): segments separated by ``/``, none
empty, ``.`` or ``..``, no leading ``/`` and no backslash or control character, at most 1024 UTF-8 bytes
(S3's limit). :func:`validate_key` enforces this in every adapter, so a key valid on a laptop is valid on S3.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, runtime_checkable

from ..errors import Forbidden, InvalidRequest, NotFound, PayloadTooLarge, Unavailable

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "InvalidKey",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "ObjectStoreUnavailable",
    "ObjectStream",
    "TooLarge",
    "UrlExpired",
    "UrlInvalid",
    "validate_key",
    "validate_prefix",
]

DEFAULT_CONTENT_TYPE = "application/octet-stream"
_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")  # control characters and the backslash
MAX_KEY_BYTES = 1024


class ObjectNotFound(NotFound):
    """No object is stored under this key.

    Attributes:
        fields: ``key`` names the missing object.
    """


class ObjectStoreUnavailable(Unavailable):
    """The object store could not be reached or refused the request."""


class UrlExpired(Forbidden):
    """The signed URL has expired."""


class UrlInvalid(Forbidden):
    """The signed URL is invalid: its signature does not match what it grants."""


class TooLarge(PayloadTooLarge):
    """The object is larger than the signed URL allows.

    Attributes:
        fields: ``max_size`` is the limit in bytes.
    """


class InvalidKey(InvalidRequest):
    """The object key is not a valid relative path.

    Attributes:
        fields: ``field`` is ``"key"``, ``key`` the rejected value.
    """


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What the store knows about one object.

    Attributes:
        key: the object's key.
        size: its length in bytes.
        content_type: the media type given when it was written.
        etag: an opaque version tag (the SHA-256 hex for ``local``; S3's ETag, quotes stripped).
        sha256: the SHA-256 hex digest of the content, when the store computed it (``None`` for an S3
            object uploaded through a presigned URL: S3 does not compute it for us).
        created: when the object was written (UTC).
    """

    key: str
    size: int
    content_type: str
    etag: str
    sha256: str | None
    created: datetime


class ObjectStream(AsyncIterator[bytes]):
    """The content of one object, as chunks read on demand.

    ``await store.get(key)`` looks the object up (raising :class:`ObjectNotFound` before any byte is sent,
    so an HTTP handler can still answer 404) and returns this stream. Iterate it, or use it as an async
    context manager to release the file or connection when the reader stops early.

    Attributes:
        info: the object's metadata, read when the stream was opened.
    """

    def __init__(self, info: ObjectInfo, chunks: AsyncIterator[bytes], close: Callable[[], Awaitable[None]]):
        self.info = info
        self._chunks = chunks
        self._close = close
        self._closed = False

    def __aiter__(self) -> ObjectStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise

    async def read(self) -> bytes:
        """All remaining content at once (for small objects and tests only: it holds it in memory)."""
        return b"".join([chunk async for chunk in self])

    async def aclose(self) -> None:
        """Release the underlying file or connection; safe to call twice."""
        if not self._closed:
            self._closed = True
            await self._close()

    async def __aenter__(self) -> ObjectStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


@runtime_checkable
class ObjectStore(Protocol):
    """Where ``File`` values are kept, streamed in and out, never held whole in memory."""

    async def put(
        self, key: str, data: AsyncIterator[bytes] | bytes, content_type: str = DEFAULT_CONTENT_TYPE
    ) -> ObjectInfo:
        """Store ``data`` under ``key``, replacing any object there; readers never see a partial object.

        Args:
            key: a valid key (see :func:`validate_key`).
            data: the content, as bytes or as an async iterator of chunks (consumed once).
            content_type: its media type.

        Raises:
            InvalidKey: the key is not a valid relative path.
            ObjectStoreUnavailable: the store could not be reached.
        """
        ...

    async def get(self, key: str) -> ObjectStream:
        """Open the object for reading, as a stream of chunks.

        Raises:
            ObjectNotFound: nothing is stored under ``key``.
            InvalidKey, ObjectStoreUnavailable: as for :meth:`put`.
        """
        ...

    async def info(self, key: str) -> ObjectInfo:
        """The object's metadata.

        Raises:
            ObjectNotFound, InvalidKey, ObjectStoreUnavailable: as for :meth:`get`.
        """
        ...

    async def delete(self, key: str) -> None:
        """Delete the object; deleting a missing key is not an error (as on S3).

        Raises:
            InvalidKey, ObjectStoreUnavailable: as for :meth:`put`.
        """
        ...

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix`` and return how many went.

        Args:
            prefix: a non-empty prefix; end it with ``/`` to mean a folder (``runs/1/`` spares ``runs/10/``).

        Raises:
            InvalidKey: the prefix is empty or malformed.
            ObjectStoreUnavailable: the store could not be reached.
        """
        ...

    async def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with ``prefix`` (string match, as on S3), sorted by key.

        Raises:
            InvalidKey, ObjectStoreUnavailable: as for :meth:`delete_prefix` (an empty prefix is allowed).
        """
        ...

    async def presign_get(self, key: str, expires_in: int) -> str:
        """A URL that lets anyone holding it download the object with a plain GET for ``expires_in`` s.

        Raises:
            InvalidKey: as for :meth:`put`; the object need not exist yet.
        """
        ...

    async def presign_put(
        self, key: str, expires_in: int, content_type: str | None = None, max_size: int | None = None
    ) -> str:
        """A URL that lets anyone holding it create the object with a PUT for ``expires_in`` s, once.

        The PUT sends ``If-None-Match: *`` (S3 signs it into the URL); a second PUT of the URL is refused
        (local: 409, S3: 412) and the object stays as first written.

        Args:
            key: where the upload goes.
            expires_in: lifetime of the URL in seconds.
            content_type: when given, the upload must send exactly this ``Content-Type``.
            max_size: largest accepted body in bytes (``local`` enforces it with 413; a presigned S3 PUT
                cannot carry a limit, so check ``info(key).size`` after an S3 upload).

        Raises:
            InvalidKey: as for :meth:`put`.
        """
        ...

    async def close(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""
        ...


def validate_key(key: str) -> str:
    """Return ``key`` if it is a valid object key.

    Raises:
        InvalidKey: it is empty, absolute, has an empty, ``.`` or ``..`` segment, a backslash or a control
            character, or is over 1024 UTF-8 bytes.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey("object key is empty", field="key", key=key)
    _check_text(key)
    if key.startswith("/"):
        raise InvalidKey(f"object key {key!r} is absolute: keys are relative paths", field="key", key=key)
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidKey(f"object key {key!r} has an empty, '.' or '..' segment", field="key", key=key)
    return key


def validate_prefix(prefix: str, *, allow_empty: bool = True) -> str:
    """Return ``prefix`` if it is a valid key prefix: a valid key, optionally ending with ``/``.

    Args:
        prefix: the prefix to check.
        allow_empty: whether ``""`` (every object) is acceptable.

    Raises:
        InvalidKey: it is malformed, or empty where that is not allowed.
    """
    if prefix == "":
        if allow_empty:
            return prefix
        raise InvalidKey("an empty prefix would mean every object: name a folder", field="prefix", key=prefix)
    validate_key(prefix.removesuffix("/"))
    return prefix


def _check_text(key: str) -> None:
    if _FORBIDDEN.search(key):
        raise InvalidKey(f"object key {key!r} has a backslash or a control character", field="key", key=key)
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:  # lone surrogates: no store can name a file after them
        raise InvalidKey(f"object key {key!r} is not valid Unicode", field="key", key=repr(key)) from exc
    if size > MAX_KEY_BYTES:
        raise InvalidKey(f"object key is over {MAX_KEY_BYTES} bytes", field="key", key=key[:64] + "...")
