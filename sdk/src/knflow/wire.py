"""The invoke contract between the control plane and a function (DESIGN.md section 4).

Defined once, here, and used by both sides. Plain ``TypedDict``s and constants: the function runtime
imports this module on its cold start path, so it must stay free of pydantic.
"""

from __future__ import annotations

from typing import Any, Final, NotRequired, TypedDict

from ._file import FILE_MARKER, is_file_ref

__all__ = [
    "ErrorInfo",
    "FAILED",
    "FILE_MARKER",
    "FUNCTION_SOURCE_PREFIX",
    "FailedData",
    "FileGet",
    "FileUpload",
    "HEALTH_LIVENESS",
    "HEALTH_READINESS",
    "INVOKE",
    "InvokeData",
    "Reply",
    "SUCCEEDED",
    "SucceededData",
    "invoke_id",
    "is_file_ref",
    "run_source",
]

INVOKE: Final = "dev.knflow.step.invoke"
SUCCEEDED: Final = "dev.knflow.step.succeeded"
FAILED: Final = "dev.knflow.step.failed"
#: Source of the events a function replies with.
FUNCTION_SOURCE_PREFIX: Final = "/functions/"

HEALTH_LIVENESS: Final = "/health/liveness"
HEALTH_READINESS: Final = "/health/readiness"


class FileGet(TypedDict):
    """Where a function downloads one input file (a presigned URL)."""

    get: str


class FileUpload(TypedDict):
    """Where a function uploads one output file (a presigned URL) and the key it will have."""

    put: str
    key: str
    max_size: NotRequired[int]  # the largest file the store takes through ``put``, in bytes


class Reply(TypedDict):
    """Async reply mode: answer 202 at once, then POST the result event to ``url`` with ``token``."""

    url: str
    token: str


class InvokeData(TypedDict):
    """The data of a ``dev.knflow.step.invoke`` CloudEvent.

    ``files`` is keyed by each input file's object key (the ``key`` of its ``{"knflow.file": ...}``
    reference, wherever it sits in the inputs); ``uploads`` by output name. ``spare`` holds upload
    slots for new files that are not a whole output with its own slot (a file inside a list or dict
    output, or an output the action did not declare), used in order.
    """

    inputs: dict[str, Any]
    deadline: str
    files: NotRequired[dict[str, FileGet]]
    uploads: NotRequired[dict[str, FileUpload]]
    spare: NotRequired[list[FileUpload]]
    reply: NotRequired[Reply]
    live: NotRequired[Reply]  # where the function may POST its output while it runs (``{"offset", "text"}``)


class ErrorInfo(TypedDict):
    """What failed, in a ``dev.knflow.step.failed`` event."""

    type: str
    message: str
    code: int | None
    retryable: bool
    traceback: str | None


class SucceededData(TypedDict):
    """The data of a ``dev.knflow.step.succeeded`` CloudEvent."""

    outputs: dict[str, Any]
    logs: str


class FailedData(TypedDict):
    """The data of a ``dev.knflow.step.failed`` CloudEvent."""

    error: ErrorInfo
    logs: str


def invoke_id(run_id: str, step: str, attempt: int) -> str:
    """The ``ce-id`` of an invocation, its idempotency key."""
    return f"{run_id}/{step}/{attempt}"


def run_source(run_id: str) -> str:
    """The ``ce-source`` of an invocation."""
    return f"/runs/{run_id}"
