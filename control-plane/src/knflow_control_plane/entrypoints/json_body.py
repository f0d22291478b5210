"""A typed JSON body read as FastAPI reads one, but callable off the event loop: ``POST /v1/runs`` takes
inputs of up to the body limit, and parsing and checking 8 MiB of them held the loop for 0.6 s.

The route declares the model in the OpenAPI document by hand (``openapi_extra``); the errors are FastAPI's
own (a ``RequestValidationError`` located under ``body``, a 400 for a body that cannot be read), so the
problem handlers answer exactly as before.
"""

from __future__ import annotations

import email.message
import json
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

M = TypeVar("M", bound=BaseModel)


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` declaring a required JSON body of ``model`` (listed in ``openapi.HAND_REFERENCED``)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def read_model(raw: bytes, content_type: str | None, model: type[M]) -> M:
    """``raw`` as ``model``: JSON when the content type is JSON (or absent), else the bytes, as FastAPI does.

    Raises:
        RequestValidationError: not JSON, or not ``model`` (each error located under ``body``).
        HTTPException: 400, a body Python's JSON parser cannot read (nested too deep).
    """
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    data: Any = raw
    if _is_json(content_type):
        try:
            data = json.loads(raw, object_pairs_hook=_object)
        except json.JSONDecodeError as exc:
            error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
            raise RequestValidationError([{**error, "ctx": {"error": exc.msg}}]) from exc
        except (RecursionError, UnicodeDecodeError, ValueError) as exc:
            raise HTTPException(400, "There was an error parsing the body") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from exc


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A Python hook, called once per JSON object: the C parser holds the GIL for the whole document
    # otherwise (8 MiB: 0.45 s in which the event loop's thread cannot run), and between two calls of a
    # Python function the interpreter hands the GIL over (to 0.2 s; the parse costs 1.5x the CPU).
    return dict(pairs)


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))
