"""Files of an invocation: inputs downloaded from presigned URLs, outputs uploaded to them.

Functions never hold storage credentials (DESIGN.md section 4): the invoke event carries a ``get`` URL
per input file key and a ``put`` URL (with the key the file will have) per output. Transfers use the
stdlib ``urllib`` in worker threads, imported on first use so that actions without files do not pay
for it on their cold start; so are ``shutil``, ``tempfile`` and ``pathlib``, ~9% of the instructions of a
start with what they load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from knflow import File
from knflow._file import is_file_ref
from knflow.wire import FileGet, FileUpload

from .errors import FileTransferError, OutputError

if TYPE_CHECKING:
    from pathlib import Path

_CHUNK = 1024 * 1024


class Workdir:
    """A per-invocation temporary directory, created on first use and removed with everything in it."""

    def __init__(self) -> None:
        self._path: Path | None = None

    def new_file(self, name: str) -> Path:
        """A fresh path for a file called ``name`` (each in its own folder, so names never clash)."""
        import tempfile
        from pathlib import Path

        if self._path is None:
            self._path = Path(tempfile.mkdtemp(prefix="knflow-"))
        folder = Path(tempfile.mkdtemp(dir=self._path))
        return folder / (os.path.basename(name) or "file")

    def remove(self) -> None:
        """Delete the directory, if it was created."""
        if self._path is not None:
            import shutil

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
        FileTransferError: when a download fails (naming the input and the file).
    """
    if not gets:
        return inputs
    wanted: dict[str, tuple[File, str]] = {}

    def note(file: File, original: Any, path: str) -> Any:
        if file.key is not None and file.key in gets:
            wanted.setdefault(file.key, (file, path))
        return original

    _walk(inputs, note)
    if not wanted:
        return inputs
    paths = [workdir.new_file(file.name) for file, _ in wanted.values()]
    await asyncio.gather(
        *(
            asyncio.to_thread(_download, gets[key]["get"], path, timeout, key, field)
            for (key, (_, field)), path in zip(wanted.items(), paths, strict=True)
        )
    )
    local = {
        key: File(path, key=key, name=file.name, content_type=file.content_type, size=path.stat().st_size)
        for (key, (file, _)), path in zip(wanted.items(), paths, strict=True)
    }
    # Files without a download URL stay as they came (a File without local copy, or a wire reference).
    return dict(_walk(inputs, lambda file, original, _: local.get(file.key or "", original)))


async def store_outputs(
    outputs: dict[str, Any], uploads: Mapping[str, FileUpload], timeout: float, spare: Sequence[FileUpload] = ()
) -> dict[str, Any]:
    """``outputs`` with each ``File`` replaced by its wire reference, uploaded first where it is new.

    A new ``File`` (one without a key) that is a whole output goes to ``data.uploads[name]`` when the
    event has that slot; any other new ``File`` (inside a list or dict, or an output without a slot)
    takes the next of ``data.spare``. A ``File`` that already has a key (an input passed on) stays a
    reference to that key, without an upload.

    Args:
        outputs: the action's outputs by name.
        uploads: ``data.uploads`` of the event: output name -> ``{"put": url, "key": key}``.
        timeout: seconds an upload may take (the time left before the deadline).
        spare: ``data.spare`` of the event: upload slots for any other new file.

    Raises:
        OutputError: a new ``File`` finds no upload slot left, or is over the store's size limit.
        FileTransferError: when an upload fails otherwise.
    """
    free = list(spare)
    new_files = 0

    def count(file: File, original: Any, path: str) -> Any:
        nonlocal new_files
        new_files += file.key is None
        return original

    def place(file: File, original: Any, path: str) -> Any:
        if file.key is not None:
            return original if is_file_ref(original) else file.to_wire()
        slot = uploads.get(path) if path in outputs else None
        if slot is None:
            if not free:
                raise OutputError(
                    "a new File needs an upload slot: the invocation has no data.uploads entry for this output "
                    f"and its {len(spare)} spare slot(s) are taken",
                    output=path,
                )
            slot = free.pop(0)
        size = _upload(file, slot["put"], timeout, path, slot.get("max_size"))
        return File(key=slot["key"], name=file.name, content_type=file.content_type, size=size).to_wire()

    def place_all() -> dict[str, Any]:
        return {name: _walk(value, place, name) for name, value in outputs.items()}

    _walk(outputs, count)
    # Uploads block: they run in a worker thread, one after the other; outputs without new files stay here.
    return await asyncio.to_thread(place_all) if new_files else place_all()


def _walk(value: Any, visit: Callable[[File, Any, str], Any], path: str = "") -> Any:
    """``value`` rebuilt with ``visit(file, original, path)`` for every ``File`` or file wire reference in it."""
    if isinstance(value, File):
        return visit(value, value, path)
    if is_file_ref(value):
        return visit(File.from_wire(value), value, path)
    if isinstance(value, dict):
        return {key: _walk(item, visit, f"{path}.{key}" if path else str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(item, visit, f"{path}[{index}]") for index, item in enumerate(value)]
    return value


def _download(url: str, path: Path, timeout: float, key: str, field: str) -> None:
    import shutil
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, path.open("wb") as out:  # noqa: S310
            shutil.copyfileobj(response, out, _CHUNK)
    except OSError as exc:
        reason = _reason(exc)
        raise FileTransferError(
            f"cannot download input file {key!r} (input {field!r}) from {_safe(url)}: {reason}"
        ) from exc


def _upload(file: File, url: str, timeout: float, output: str, max_size: int | None = None) -> int:
    import urllib.error
    import urllib.request

    if max_size is not None:
        # Checked here, before a byte is sent: a store refusing an oversize body mid-stream often resets
        # the connection before its 413 can be read, which would look like a transient failure.
        size = file.path.stat().st_size if file.path is not None else len(file.read_bytes())
        if size > max_size:
            message = f"the file is too large for the object store: {size} bytes, the limit is {max_size}"
            raise OutputError(message, output=output)
    # Create only: an S3 upload URL signs this header (a PUT without it is refused), and a second PUT of
    # the same URL then answers 412 instead of replacing the object; the local store is create-only anyway.
    headers = {"Content-Type": file.content_type, "If-None-Match": "*"}
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
    except urllib.error.HTTPError as exc:
        if exc.code == 413:  # the same file would be refused again: not worth a retry
            raise OutputError(f"the file is too large for the object store: {_reason(exc)}", output=output) from exc
        raise FileTransferError(f"cannot upload output {output!r} to {_safe(url)}: {_reason(exc)}") from exc
    except OSError as exc:
        raise FileTransferError(f"cannot upload output {output!r} to {_safe(url)}: {_reason(exc)}") from exc


def _reason(exc: OSError) -> str:
    """What went wrong, with the store's own explanation when it sent one (a problem, or S3's XML)."""
    import urllib.error

    if not isinstance(exc, urllib.error.HTTPError):
        return str(exc)
    try:
        body = exc.read(4096).decode("utf-8", errors="replace")
    except OSError:
        body = ""
    detail = ""
    if body.lstrip().startswith("{"):
        with contextlib.suppress(ValueError, AttributeError):
            detail = str(json.loads(body).get("detail") or "")
    elif "<Message>" in body:
        detail = body.partition("<Message>")[2].partition("</Message>")[0]
    return f"HTTP {exc.code} {exc.reason}" + (f": {detail}" if detail else "")


def _safe(url: str) -> str:
    # The query string of a presigned URL is its credential.
    return url.partition("?")[0]
