"""Files and offloaded payloads in run records: where they sit in values, their keys, their lineage. No I/O.

A ``File`` travels as a reference, ``{"knflow.file": {"key", "name", "content_type", "size"}}``, anywhere
inside a JSON value. A large JSON value (an output, an input, logs) is kept in the object store and the
run record holds ``{"knflow.payload": {"key", "size"}}`` in its place.

Files written by an attempt live under ``runs/{run}/{step}/{attempt}/``; files uploaded through the API
(multipart workflow inputs, ``POST /v1/files``) under ``uploads/{id}/``, named by the runs that use them.
Offloaded payloads live under ``payloads/{run}/``, so that a file retention policy never touches them
(runs, payloads included, are never deleted implicitly).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from knflow._file import FILE_MARKER, is_file_ref

PAYLOAD_MARKER = "knflow.payload"
#: Logs text that stands for logs kept in the object store: this prefix, then the key.
LOGS_MARKER = "[knflow.payload] "
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class FileRecord:
    """One stored file and where it came from (its lineage).

    Attributes:
        key: its object key.
        project: the owning project.
        run_id: the run whose attempt wrote it (None for an uploaded file: runs name it in their inputs).
        step: the step that wrote it (None for an upload).
        attempt: the attempt number that wrote it (None for an upload).
        field: the output (or input) it was, as a path (``thumbnail``, ``images[2]``, ``inputs.photo``).
        name: its file name.
        content_type: its media type.
        size: its length in bytes.
        sha256: its SHA-256 hex digest, when the store knows it.
        created_at: when it was recorded (epoch seconds).
        expired_at: when the retention policy deleted its content, if it did.
    """

    key: str
    project: str
    run_id: str | None
    step: str | None
    attempt: int | None
    field: str
    name: str
    content_type: str
    size: int
    sha256: str | None
    created_at: float
    expired_at: float | None = None


def is_payload_ref(value: object) -> bool:
    """Whether ``value`` stands for a JSON value kept in the object store."""
    return isinstance(value, dict) and len(value) == 1 and PAYLOAD_MARKER in value


def file_refs(value: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every file reference inside ``value`` as ``(path, the inner reference dict)``, depth first.

    Paths name where the file sits: ``image``, ``images[0]``, ``meta.cover``.
    """
    if is_file_ref(value):
        yield path, value[FILE_MARKER]
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from file_refs(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from file_refs(item, f"{path}[{index}]")


def replace_refs(value: Any, visit: Callable[[dict[str, Any]], Any], marker: str) -> Any:
    """``value`` rebuilt with ``visit(ref)`` in place of every ``{marker: ref}`` in it."""
    if isinstance(value, dict):
        if len(value) == 1 and marker in value:
            return visit(value[marker])
        return {key: replace_refs(item, visit, marker) for key, item in value.items()}
    if isinstance(value, list):
        return [replace_refs(item, visit, marker) for item in value]
    return value


def payload_keys(value: Any) -> list[str]:
    """The keys of every offloaded payload inside ``value``."""
    keys: list[str] = []

    def note(ref: dict[str, Any]) -> Any:
        keys.append(str(ref.get("key")))
        return ref

    replace_refs(value, note, PAYLOAD_MARKER)
    return keys


def attempt_prefix(run_id: str, step: str, attempt: int) -> str:
    """The key prefix of the files one attempt writes."""
    return f"runs/{run_id}/{step}/{attempt}/"


def upload_key(upload_id: str, name: str) -> str:
    """Where a file uploaded through the API (to be a workflow input) is kept."""
    return f"uploads/{upload_id}/{segment(name, 'file')}"


def payload_key(run_id: str, *parts: str, suffix: str = ".json") -> str:
    """Where an offloaded payload of a run is kept (``parts``: step, attempt, what)."""
    return "/".join(["payloads", run_id, *(segment(part, "value") for part in parts)]) + suffix


def segment(text: str, fallback: str) -> str:
    """``text`` if it is a safe key segment, else a safe rendering of it (never empty)."""
    if _SAFE_SEGMENT.match(text) and text not in (".", ".."):
        return text
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:100]
    return cleaned or fallback


def may_hold_files(schema: dict[str, Any]) -> bool:
    """Whether a value of JSON ``schema`` (an action's output schema) may contain a ``File``.

    Unknown (``{}``), bare ``dict``/``list`` and anything mentioning the file format may; plain scalars,
    typed containers of scalars and pydantic models (``$ref``) may not.
    """
    if not schema:
        return True
    if schema.get("format") == "knflow-file":
        return True
    if "anyOf" in schema:
        return any(may_hold_files(option) for option in schema["anyOf"])
    if "$ref" in schema:
        return False
    kind = schema.get("type")
    if kind == "array":
        return may_hold_files(schema["items"]) if "items" in schema else True
    if kind == "object":
        if "properties" in schema:
            return any(may_hold_files(s) for s in schema["properties"].values())
        extra = schema.get("additionalProperties")
        return may_hold_files(extra) if isinstance(extra, dict) else True
    return kind is None


def named_slots(schema: dict[str, Any], declared: list[str] | None) -> list[str]:
    """Output names that get their own upload URL: ``result`` for an action returning a ``File``,
    each declared output of one that may return files."""
    if schema.get("format") == "knflow-file":
        return ["result"]
    if declared is not None and may_hold_files(schema):
        return list(declared)
    return []
