"""Workflow inputs from a query string: each text value converted to the input's declared type.

``/hooks/sum?x=3`` means ``x = 3`` when ``x`` is an ``int``: a query string has only text, so the text
is read as the declared type (integer, number, boolean, null, JSON array or object). A value that does
not read as its type stays text, and the input check then names the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from knflow import _types
from knflow.spec import ParamSpec

_INTEGER = re.compile(r"^[+-]?\d+$")
_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def query_inputs(params: Mapping[str, ParamSpec], query: Mapping[str, str]) -> dict[str, Any]:
    """``query`` with each value of a declared input converted to that input's type (others kept as text)."""
    return {name: convert(params[name].type, text) if name in params else text for name, text in query.items()}


def convert(schema: Mapping[str, Any], text: str) -> Any:
    """``text`` read as a value of ``schema`` (JSON Schema ``type``/``anyOf``), or ``text`` when it does not read."""
    options = list(schema.get("anyOf") or [schema])
    if any(_types.mismatch(option, text) is None for option in options):
        return text  # a string (or untyped) input takes the text as it is
    for option in options:
        value = _read(option.get("type"), text)
        if value is not _NO and _types.mismatch(option, value) is None:
            return value
    return text


_NO = object()


def _read(kind: Any, text: str) -> Any:
    if kind == "integer":
        return int(text) if _INTEGER.match(text.strip()) else _NO
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return _NO
    if kind == "boolean":
        return _BOOLEANS.get(text.strip().lower(), _NO)
    if kind == "null":
        return None if text.strip().lower() in ("", "null") else _NO
    if kind in ("array", "object"):
        try:
            return json.loads(text)
        except ValueError:
            return _NO
    return _NO
