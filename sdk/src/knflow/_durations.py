"""Durations (``"60s"``, ``"5m"``, ``"1h30m"``, ``"250ms"``) and Kubernetes resource quantities."""

from __future__ import annotations

import math
import re
from typing import NoReturn

from ._errors import SpecError

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_CPU = re.compile(r"^(\d+(\.\d+)?|\d+m)$")
_MEMORY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|K|M|G|T|k)?$")


def parse_duration(value: str | int | float, *, field: str) -> float:
    """Seconds in ``value``: a number of seconds (``0``, ``"0"``, ``"2.5"``) or a string like ``"1m30s"``.

    Raises:
        SpecError: naming ``field`` when the value is not a non-negative duration.
    """
    if isinstance(value, bool):
        raise SpecError(f"expected a duration like '30s', got {value!r}", path=field)
    if isinstance(value, int | float):
        if value < 0:
            raise SpecError(f"a duration cannot be negative, got {value!r}", path=field)
        return float(value)
    text = value.strip()
    try:
        seconds = float(text)  # "0", "30", "1.5": seconds, like the number itself
    except ValueError:
        pass
    else:
        return parse_duration(seconds, field=field) if math.isfinite(seconds) else _not_a_duration(value, field)
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if not text or position != len(text):
        _not_a_duration(value, field)
    return total


def _not_a_duration(value: object, field: str) -> NoReturn:
    raise SpecError(f"expected a duration like '30s', '5m' or '1h30m', got {value!r}", path=field)


def check_cpu(value: str, *, field: str) -> str:
    """``value`` if it is a Kubernetes CPU quantity (``"500m"``, ``"2"``)."""
    if not _CPU.match(value):
        raise SpecError(f"expected a CPU quantity like '500m' or '2', got {value!r}", path=field)
    return value


def check_memory(value: str, *, field: str) -> str:
    """``value`` if it is a Kubernetes memory quantity (``"512Mi"``, ``"1Gi"``)."""
    if not _MEMORY.match(value):
        raise SpecError(f"expected a memory quantity like '512Mi' or '1Gi', got {value!r}", path=field)
    return value
