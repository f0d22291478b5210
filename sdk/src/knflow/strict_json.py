"""JSON as knflow stores it: what cannot round-trip through a JSON column is refused where it comes in.

Python's ``json`` reads ``NaN`` and ``Infinity`` (not JSON: SQLite stored them as invalid JSON, Postgres
refused them later), lone surrogates (``"\\ud800"``: no UTF-8 encoding, so no store or Kafka message can
carry them), and nesting only as deep as the interpreter's stack (10,000 levels raised a RecursionError
deep in a request). :func:`loads` and :func:`check` refuse all three, naming where.

The common case costs one scan of the text in C: the value is walked only when the text holds a
constant, a surrogate escape or more brackets than :data:`MAX_DEPTH`.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Any

#: deepest nesting of arrays and objects accepted (deeper data is refused, not parsed)
MAX_DEPTH = 200
#: a ``\\uD800``-``\\uDFFF`` escape, or a surrogate encoded in UTF-8 (json reads bytes with surrogatepass)
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")


class JsonRefused(ValueError):
    """JSON that knflow cannot store faithfully.

    Attributes:
        reason: what is wrong, as a sentence.
        path: the first keys or indexes (at most two) of where it is: ``("data",)``, ``(3, "data")``;
            empty when it is the whole document or unknown.
    """

    def __init__(self, reason: str, path: tuple[str | int, ...] = ()):
        super().__init__(reason)
        self.reason = reason
        self.path = path


class _Constant:
    """What ``NaN``/``Infinity`` parse to, so that :func:`check` names where they were."""

    def __init__(self, name: str):
        self.name = name


#: One decoder for every call (``json.loads`` with a keyword builds a new one each time: half its cost
#: for a small document); ``NaN``/``Infinity`` parse to a :class:`_Constant`, found by :func:`check`.
_DECODER = json.JSONDecoder(parse_constant=_Constant)


def loads(text: bytes | str) -> Any:
    """``json.loads`` that refuses what JSON cannot carry (see the module).

    Raises:
        JsonRefused: a non-finite number, a lone surrogate, or nesting deeper than :data:`MAX_DEPTH`.
        ValueError: the text is not JSON at all (``json.JSONDecodeError``, ``UnicodeDecodeError``).
    """
    if isinstance(text, str):
        raw = text.encode("utf-8", "surrogatepass")
    else:
        raw, text = text, text.decode(json.detect_encoding(text), "surrogatepass")  # as json.loads reads bytes
    try:
        value = _DECODER.decode(text)
    except RecursionError as exc:
        raise JsonRefused(f"nested more than {MAX_DEPTH} levels deep") from exc
    # A constant's name, a surrogate escape or many brackets in the text: the value is looked at (a
    # name inside a string only costs that look).
    if b"NaN" in raw or b"Infinity" in raw or raw.count(b"[") + raw.count(b"{") > MAX_DEPTH or _SURROGATE.search(raw):
        check(value)
    return value


def check(value: Any) -> None:
    """Refuse a parsed value JSON cannot carry: non-finite floats, lone surrogates, deep nesting.

    The value is serialised once in C (``allow_nan=False``, then UTF-8), which finds the first two; it
    is walked in Python, to name where, only when that fails or its text nests deeper than allowed (a
    walk of an 8 MiB value took 0.6 s of the event loop; this, 0.1 s).

    Raises:
        JsonRefused: naming the first two keys or indexes of where.
    """
    if not isinstance(value, dict | list):
        _walk(value)
        return
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")
    except (ValueError, TypeError, RecursionError):  # UnicodeEncodeError is a ValueError
        _walk(value)  # names where (or accepts what is merely not JSON-typed: not this module's business)
        return
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(text) > MAX_DEPTH:
        _walk(value)


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = {code: None for code in range(128) if chr(code) not in "[]{}"}


def _depth(text: str) -> int:
    """How deep the JSON ``text`` nests (strings, and every character but brackets, dropped in C)."""
    brackets = _STRING.sub("", text).translate(_NOT_BRACKETS)
    return max(itertools.accumulate(1 if c in "[{" else -1 for c in brackets), default=0)


def _walk(value: Any) -> None:
    stack: list[tuple[Any, int, tuple[str | int, ...]]] = [(value, 0, ())]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise JsonRefused(f"nested more than {MAX_DEPTH} levels deep", path)
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                where = (*path, key) if len(path) < 2 else path
                if isinstance(key, str) and not _encodable(key):
                    raise JsonRefused("a key holds a lone surrogate (\\ud800-\\udfff), which has no UTF-8 form", where)
                stack.append((child, depth + 1, where))
        elif isinstance(item, _Constant):
            raise JsonRefused(f"{item.name} is not a JSON number", path)
        elif isinstance(item, float) and not math.isfinite(item):
            raise JsonRefused(f"{item} is not a JSON number", path)
        elif isinstance(item, str) and not _encodable(item):
            raise JsonRefused("a string holds a lone surrogate (\\ud800-\\udfff), which has no UTF-8 form", path)


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
