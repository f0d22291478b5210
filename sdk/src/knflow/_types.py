"""Python annotations as JSON Schema, and validation of values against them.

Plain types (``str int float bool dict list None``, ``File``, ``X | None``, ``list[X]``,
``dict[str, X]``) are handled here without pydantic, which keeps a function's cold start free of its
import; anything else (pydantic models, ``Literal``...) is handed to pydantic, imported on first use.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

from ._errors import InputValidationError
from ._file import File, is_file_ref

Schema = dict[str, Any]
Validator = Callable[[Any, str], Any]

_SIMPLE: dict[Any, Schema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    dict: {"type": "object"},
    list: {"type": "array"},
    type(None): {"type": "null"},
    None: {"type": "null"},
}
FILE_SCHEMA: Schema = {"type": "object", "format": "knflow-file"}


def _is_optional_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def schema_of(annotation: Any) -> Schema:
    """JSON Schema for an annotation (``{}`` accepts anything)."""
    if annotation is Any or annotation is typing.Any or annotation is _EMPTY:
        return {}
    if annotation is File:
        return dict(FILE_SCHEMA)
    if annotation in _SIMPLE:
        return dict(_SIMPLE[annotation])
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if _is_optional_union(annotation):
        return {"anyOf": [schema_of(arg) for arg in args]}
    if origin is list and len(args) == 1:
        return {"type": "array", "items": schema_of(args[0])}
    if origin is dict and len(args) == 2:
        return {"type": "object", "additionalProperties": schema_of(args[1])}
    return _pydantic_schema(annotation)


def _pydantic_schema(annotation: Any) -> Schema:
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(annotation).json_schema()
    except Exception:  # an annotation pydantic cannot describe still accepts anything  # noqa: BLE001
        return {}


_EMPTY = object()


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict | File):
        return "object"
    return type(value).__name__


def mismatch(schema: Schema, value: Any) -> str | None:
    """Why a JSON value does not fit ``schema`` (the ``type``/``items``/``anyOf`` keywords), or None."""
    if "anyOf" in schema:
        reasons = [mismatch(option, value) for option in schema["anyOf"]]
        return None if any(reason is None for reason in reasons) else reasons[0]
    expected = schema.get("type")
    if expected is None:
        return None
    actual = _json_type(value)
    if schema.get("format") == "knflow-file":
        return None if isinstance(value, File) or is_file_ref(value) else f"expected a File, got {actual}"
    if actual == expected or (expected == "number" and actual == "integer"):
        if actual == "array" and "items" in schema:
            for index, item in enumerate(value):
                reason = mismatch(schema["items"], item)
                if reason:
                    return f"item {index}: {reason}"
        if actual == "object" and isinstance(schema.get("additionalProperties"), dict) and isinstance(value, dict):
            for key, item in value.items():
                reason = mismatch(schema["additionalProperties"], item)
                if reason:
                    return f"key {key!r}: {reason}"
        return None
    return f"expected {expected}, got {actual}"


def compatible(source: Schema, target: Schema) -> bool:
    """Whether values of ``source`` may flow into ``target`` (only a sure clash says no)."""
    source_type, target_type = source.get("type"), target.get("type")
    if not source_type or not target_type or "anyOf" in source or "anyOf" in target:
        return True
    if source.get("format") == "knflow-file" or target.get("format") == "knflow-file":
        return source.get("format") == target.get("format")
    return bool(source_type == target_type or (target_type == "number" and source_type == "integer"))


def validator_for(annotation: Any) -> Validator:
    """A function ``(value, field) -> value`` that checks and converts one input.

    Raises (from the returned function):
        InputValidationError: naming the field when the value does not fit.
    """
    if annotation is _EMPTY or annotation is Any:
        return lambda value, field: value
    if annotation is File:
        return _validate_file
    if (
        annotation in _SIMPLE
        or (_is_optional_union(annotation) and _all_simple(annotation))
        or _simple_generic(annotation)
    ):
        schema = schema_of(annotation)

        def check(value: Any, field: str) -> Any:
            reason = mismatch(schema, value)
            if reason:
                raise InputValidationError(reason, field=field)
            return float(value) if annotation is float and isinstance(value, int) else value

        return check
    return _pydantic_validator(annotation)


def _is_plain(arg: Any) -> bool:
    # Types this module checks itself: JSON scalars and containers, File, Any.
    return arg in _SIMPLE or arg is File or arg is Any


def _all_simple(annotation: Any) -> bool:
    return all(_is_plain(arg) for arg in typing.get_args(annotation))


def _simple_generic(annotation: Any) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    return origin in (list, dict) and all(_is_plain(arg) for arg in args)


def _validate_file(value: Any, field: str) -> Any:
    if isinstance(value, File):
        return value
    if is_file_ref(value):
        return File.from_wire(value)
    raise InputValidationError(f"expected a File, got {_json_type(value)}", field=field)


def _pydantic_validator(annotation: Any) -> Validator:
    from pydantic import TypeAdapter, ValidationError

    adapter: Any = TypeAdapter(annotation)

    def check(value: Any, field: str) -> Any:
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in (field, *first["loc"]))
            raise InputValidationError(first["msg"], field=where) from exc

    return check


def empty() -> object:
    """The sentinel for "no annotation" used by :func:`schema_of` and :func:`validator_for`."""
    return _EMPTY
