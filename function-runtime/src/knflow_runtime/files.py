"""Files of an invocation: inputs downloaded from presigned URLs, outputs uploaded to them.

Functions never hold storage credentials (DESIGN.md section 4): the invoke event carries a ``get`` URL
per input file key and a ``put`` URL (with the key the file will have) per output. Transfers use the
stdlib ``urllib`` in worker threads, imported on first use so that actions without files do not pay
for it on their cold start.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from knflow import File
from knflow._file import is_file_ref
from knflow.wire import FileGet, FileUpload

from .errors import FileTransferError, OutputError

_CHUNK = 1024 * 1024


class Workdir:
    """A per-invocation temporary directory, created on first use and removed with everything in it."""

    def __init__(self) -> None:
        self._path: Path | None = None

    def new_file(self, name: str) -> Path:
        """A fresh path for a file called ``name`` (each in its own folder, so names never clash)."""
        if self._path is None:
            self._path = Path(tempfile.mkdtemp(prefix="knflow-"))
        folder = Path(tempfile.mkdtemp(dir=self._path))
        return folder / (os.path.basename(name) or "file")

    def remove(self) -> None:
        """Delete the directory, if it was created."""
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)
            self._path = None


async def fetch_inputs(
    inputs: dict[str, Any], gets: Mapping[str, FileGet], workdir: Workdir, timeout: float
) -> dict[str, Any]:
    """``inputs`` with each file whose key has a ``get`` URL replaced by a downloaded local ``File``.

    Files may be ``File`` objects (an input annotated ``File``) or wire references nested in dicts and
    lists (an input annotated ``dict``/``list``/``Any``); both become ``File(path=..., key=...)``.

    Args:
        inputs: the validated inputs.
        gets: ``data.files`` of the event: file key -> ``{"get": url}``.
        workdir: where downloads go.
        timeout: seconds a download may take (the time left before the deadline).

    Raises:
        FileTransferError: when a download fails.
    """
    if not gets:
        return inputs
    wanted: dict[str, File] = {}

    def note(file: File, original: Any) -> Any:
        if file.key is not None and file.key in gets:
            wanted.setdefault(file.key, file)
        return original

    _walk(inputs, note)
    if not wanted:
        return inputs
    paths = [workdir.new_file(file.name) for file in wanted.values()]
    await asyncio.gather(
        *(
            asyncio.to_thread(_download, gets[key]["get"], path, timeout, key)
            for key, path in zip(wanted, paths, strict=True)
        )
    )
    local = {
        key: File(path, key=key, name=file.name, content_type=file.content_type, size=path.stat().st_size)
        for (key, file), path in zip(wanted.items(), paths, strict=True)
    }
    # Files without a download URL stay as they came (a File without local copy, or a wire reference).
    return dict(_walk(inputs, lambda file, original: local.get(file.key or "", original)))


async def store_outputs(outputs: dict[str, Any], uploads: Mapping[str, FileUpload], timeout: float) -> dict[str, Any]:
    """``outputs`` with each ``File`` replaced by its wire reference, uploaded first where needed.

    A ``File`` output is uploaded to ``data.uploads[name].put`` and gets the key of that slot. A ``File``
    that already has a key (an input passed through) and no slot stays a reference to that key.

    Args:
        outputs: the action's outputs by name.
        uploads: ``data.uploads`` of the event: output name -> ``{"put": url, "key": key}``.
        timeout: seconds an upload may take (the time left before the deadline).

    Raises:
        OutputError: for a new ``File`` without an upload slot, or one nested inside another value.
        FileTransferError: when an upload fails.
    """
    stored: dict[str, Any] = {}
    for name, value in outputs.items():
        slot = uploads.get(name)
        if isinstance(value, File) and slot is not None:
            size = await asyncio.to_thread(_upload, value, slot["put"], timeout, name)
            stored[name] = File(key=slot["key"], name=value.name, content_type=value.content_type, size=size).to_wire()
        else:
            stored[name] = _walk(value, partial(_reference, output=name))
    return stored


def _reference(file: File, original: Any, *, output: str) -> Any:
    if file.key is None:
        raise OutputError(
            "a new File needs an upload slot: the invocation has no data.uploads entry for this output "
            "(and a File nested inside another value cannot be uploaded)",
            output=output,
        )
    return original if is_file_ref(original) else file.to_wire()


def _walk(value: Any, visit: Callable[[File, Any], Any]) -> Any:
    """``value`` rebuilt with ``visit(file, original)`` for every ``File`` or file wire reference in it."""
    if isinstance(value, File):
        return visit(value, value)
    if is_file_ref(value):
        return visit(File.from_wire(value), value)
    if isinstance(value, dict):
        return {key: _walk(item, visit) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(item, visit) for item in value]
    return value


def _download(url: str, path: Path, timeout: float, key: str) -> None:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, path.open("wb") as out:  # noqa: S310
            shutil.copyfileobj(response, out, _CHUNK)
    except OSError as exc:
        raise FileTransferError(f"cannot download input file {key!r} from {_safe(url)}: {exc}") from exc


def _upload(file: File, url: str, timeout: float, output: str) -> int:
    import urllib.request

    headers = {"Content-Type": file.content_type}
    try:
        if file.path is not None:
            size = file.path.stat().st_size
            with file.path.open("rb") as body:
                headers["Content-Length"] = str(size)
                request = urllib.request.Request(url, data=body, headers=headers, method="PUT")  # noqa: S310
                urllib.request.urlopen(request, timeout=timeout).close()  # noqa: S310
            return size
        data = file.read_bytes()
        request = urllib.request.Request(url, data=data, headers=headers, method="PUT")  # noqa: S310
        urllib.request.urlopen(request, timeout=timeout).close()  # noqa: S310
        return len(data)
    except OSError as exc:
        raise FileTransferError(f"cannot upload output {output!r} to {_safe(url)}: {exc}") from exc


def _safe(url: str) -> str:
    # The query string of a presigned URL is its credential.
    return url.partition("?")[0]
