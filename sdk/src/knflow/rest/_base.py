"""What every REST body shares: strict requests, tolerant replies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from ..strict_json import JsonRefused, check


class Request(BaseModel):
    """A request body: an unknown field is an error naming it, never silently dropped; a value no JSON
    column can hold (NaN, Infinity, a lone surrogate, deep nesting) is an error naming where it is."""

    model_config = ConfigDict(extra="forbid", strict=True)  # no true for a number, no 1 for a name

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        # Python's JSON parser reads these, and they broke the store or the reply later.
        try:
            check(value)
        except JsonRefused as exc:
            where = ".".join(str(part) for part in exc.path)
            raise ValueError(f"{where + ': ' if where else ''}{exc.reason}") from None
        return value


class Reply(BaseModel):
    """A response body: fields a newer server adds are kept (``extra``), so an older client still parses it."""

    model_config = ConfigDict(extra="allow")
