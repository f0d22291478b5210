"""RFC 9457 problem details: the body of every error the API answers (``application/problem+json``)."""

from __future__ import annotations

from typing import Final

from pydantic import Field

from ._base import Reply

PROBLEM_JSON: Final = "application/problem+json"


class FieldError(Reply):
    """One thing wrong with a request: where (a dotted path) and what."""

    field: str = Field(description="Dotted path of the offending part of the request (`inputs.width`, `body`).")
    message: str


class Problem(Reply):
    """An error: ``type``, ``title``, ``status``, ``detail``, and ``field`` naming what is wrong.

    Some problems carry more members (``errors`` for every invalid field, ``workflow_run_id`` of a
    failed hook run, ``retry_after`` of a rate limit); they are kept as extra fields.
    """

    type: str = "about:blank"
    title: str
    status: int = Field(ge=100, le=599)
    detail: str | None = None
    field: str | None = Field(default=None, description="The request part at fault, when there is one.")
    errors: list[FieldError] | None = Field(default=None, description="Every invalid field of a 422.")
