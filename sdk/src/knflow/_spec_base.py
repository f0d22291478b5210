"""What every spec model shares: names, strictness, and how fields added after v1 stay out of old specs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class SpecModel(BaseModel):
    """A frozen spec model that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _unset(value: Any) -> bool:
    return value is None


def later(**constraints: Any) -> Any:
    """A field added after ``knflow.dev/v1``: None by default, and left out of the dump while None, so that a
    spec that does not use it keeps its exact form, hence its version hash (a per-field rule: pydantic-core
    keeps its fast path, where a wrapping serializer made dumps 5x slower)."""
    return Field(default=None, exclude_if=_unset, **constraints)
