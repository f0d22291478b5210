"""A step long enough for async reply mode (the tests set the threshold to 2 s), then a short one."""

import os
import time
from pathlib import Path

from knflow import ActionError, action, workflow


@action(timeout="8s", retries=1, backoff="10ms")
def slow(value: int, delay: float = 0.3, fail: bool = False, marker: str = "") -> int:
    """value * 2 after ``delay`` seconds; ActionError when ``fail``; its pid in ``marker`` first."""
    if marker:
        Path(marker).write_text(f"{os.getpid()} {time.time()}")
    time.sleep(delay)
    if fail:
        raise ActionError(code=422, message=f"refused {value}")
    print(f"doubled {value}")
    return value * 2


@action(timeout="1s")
def plus_one(value: int) -> int:
    """value + 1 (short: invoked synchronously)."""
    return value + 1


@workflow
def long(value: int = 1, delay: float = 0.3, fail: bool = False, marker: str = "") -> object:
    """slow, then plus_one."""
    doubled = slow(value=value, delay=delay, fail=fail, marker=marker)
    return plus_one(value=doubled)
