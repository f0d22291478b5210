"""JSON columns on the raw path: the text SQLAlchemy's processors would give, in fewer steps.

Used by the raw path's binding on both dialects, and as both engines' ``json_serializer`` and
``json_deserializer`` (so also by asyncpg's ``jsonb`` codec on Postgres).

SQLAlchemy's JSON processors call ``json.dumps``/``json.loads``, which build a C encoder (or run a
regular expression for whitespace) on every call and add Python frames around the C code that does the
work: about twice the time of the C encoder and scanner called directly. A transition encodes ~10
values and decodes ~6, so this is a measurable part of a step's CPU (``docs/performance.md``). The
text is the same as ``json.dumps``'s (same separators, ASCII escapes, ``NaN``); anything unusual
(SQLAlchemy's ``null()`` and ``JSON.NULL``, numbers from ``json_extract``, text with surrounding
whitespace or malformed) goes to SQLAlchemy's own processor or to ``json.loads``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _encoder
from json import scanner as _scanner
from typing import Any

Processor = Callable[[Any], Any]


def _make_dumps() -> Callable[[Any], str]:
    make = getattr(_encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return json.dumps
    # json.dumps's own settings (markers=None: no check for cycles, which JSON from a column or a reply
    # cannot have); the encoder is immutable, so one serves every thread.
    encode = make(
        None, json.JSONEncoder().default, _encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


def _make_loads() -> Callable[[str], Any]:
    make = getattr(_scanner, "c_make_scanner", None)
    if make is None:
        return json.loads
    scan = make(json.JSONDecoder())

    def loads(text: str) -> Any:
        try:
            value, end = scan(text, 0)
        except StopIteration:  # not a value at 0 (whitespace first, or malformed): json says which
            return json.loads(text)
        return value if end == len(text) else json.loads(text)

    return loads


dumps = _make_dumps()
loads = _make_loads()


def json_bind(original: Processor) -> Processor:
    """SQLAlchemy's JSON bind processor, with dicts, lists and None encoded here."""

    def process(value: Any) -> Any:
        if value is None:
            return "null"  # as SQLAlchemy stores None in a JSON column (none_as_null is off)
        kind = type(value)
        if kind is dict or kind is list:
            return dumps(value)
        return original(value)

    return process


def json_result(original: Processor) -> Processor:
    """SQLAlchemy's JSON result processor, with text decoded here."""

    def process(value: Any) -> Any:
        if type(value) is str:
            return None if value == "null" else loads(value)  # most JSON columns of a step hold null
        return original(value)

    return process
