"""What every spec model shares: names, strictness, and how fields added after v1 stay out of old specs."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class SpecModel(BaseModel):
    """A frozen spec model that refuses unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class GrownModel(SpecModel):
    """A spec model with fields added after ``knflow.dev/v1``: each is left out of the dump while unset,
    so that a spec that does not use it keeps its exact form, hence its version hash."""

    later_fields: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _leave_out_unset(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            for name in self.later_fields:
                if data.get(name, 0) is None:
                    del data[name]
        return data
