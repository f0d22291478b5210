"""Values as a JSON column gives them back: a copy, with tuples as lists, never the caller's object."""

from __future__ import annotations

import json
from typing import Any


def stored(value: Any) -> Any:
    """``value`` after a round trip through a JSON column."""
    return None if value is None else json.loads(json.dumps(value))
