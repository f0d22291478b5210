"""``File``: a file that travels between steps by reference, never inline."""

from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

#: The one key of the JSON object that stands for a file on the wire and in run records.
FILE_MARKER = "knflow.file"


class File:
    """A file input or output of an action.

    Inside an action a ``File`` input has a local ``path``. An action returns a ``File`` made from a
    path it wrote (``File("out.png")``) or from bytes (``File.from_bytes(...)``); the platform stores it
    in the object store and passes only a reference (``key``) to the next steps.

    Attributes:
        path: the local file, when there is one in this process.
        key: the object-store key, once stored.
        name: the file's name (defaults to the path's name).
        content_type: a media type, guessed from the name when not given.
        size: the size in bytes, when known.
    """

    __slots__ = ("_data", "content_type", "key", "name", "path", "size")

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        key: str | None = None,
        name: str | None = None,
        content_type: str | None = None,
        size: int | None = None,
    ) -> None:
        self.path = _path(path) if path is not None else None
        self.key = key
        self.name = name or (self.path.name if self.path else (key.rsplit("/", 1)[-1] if key else "file"))
        self.content_type = content_type or _guess_type(self.name)
        self.size = size
        self._data: bytes | None = None

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "file", content_type: str | None = None) -> File:
        """A file held in memory until the platform stores it."""
        file = cls(name=name, content_type=content_type, size=len(data))
        file._data = data
        return file

    def read_bytes(self) -> bytes:
        """The file's content.

        Raises:
            FileNotFoundError: when the file has neither local content nor a local path.
        """
        if self._data is not None:
            return self._data
        if self.path is None:
            raise FileNotFoundError(f"file {self.name!r} ({self.key}) has no local copy in this process")
        return self.path.read_bytes()

    def open(self, mode: str = "rb") -> IO[Any]:
        """Open the local copy (``rb`` by default)."""
        if self.path is None:
            raise FileNotFoundError(f"file {self.name!r} ({self.key}) has no local copy in this process")
        return self.path.open(mode)

    def to_wire(self) -> dict[str, Any]:
        """The reference form stored in run records and sent between steps."""
        size = self.size
        if size is None and self.path is not None and self.path.exists():
            size = self.path.stat().st_size
        return {FILE_MARKER: {"key": self.key, "name": self.name, "content_type": self.content_type, "size": size}}

    @classmethod
    def from_wire(cls, value: dict[str, Any], *, path: str | os.PathLike[str] | None = None) -> File:
        """The ``File`` a wire reference stands for, optionally with its local copy."""
        ref = value[FILE_MARKER]
        return cls(
            path, key=ref.get("key"), name=ref.get("name"), content_type=ref.get("content_type"), size=ref.get("size")
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, File) and (self.key, self.name, self.path) == (other.key, other.name, other.path)

    def __hash__(self) -> int:
        return hash((self.key, self.name, self.path))

    def __repr__(self) -> str:
        where = self.key or (str(self.path) if self.path else "<memory>")
        return f"File({self.name!r}, {where})"


def is_file_ref(value: object) -> bool:
    """Whether ``value`` is the wire form of a ``File``."""
    return isinstance(value, dict) and len(value) == 1 and FILE_MARKER in value


# pathlib and mimetypes are imported where a file is made: with the urllib.parse and ipaddress they load,
# they are ~8% of the instructions of a function's cold start, and a function without files never needs them.


def _path(path: str | os.PathLike[str]) -> Path:
    from pathlib import Path

    return Path(path)


def _guess_type(name: str) -> str:
    import mimetypes

    return mimetypes.guess_type(name)[0] or "application/octet-stream"
