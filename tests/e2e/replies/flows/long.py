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


# Under the 2 s reply-mode threshold, so invoked synchronously; retried, since a cold start on a loaded
# machine once took 1.26 s of a 1 s timeout.
@action(timeout="1.9s", retries=2, backoff="10ms")
def plus_one(value: int) -> int:
    """value + 1 (short: invoked synchronously)."""
    return value + 1


@workflow
def long(value: int = 1, delay: float = 0.3, fail: bool = False, marker: str = "") -> object:
    """slow, then plus_one."""
    doubled = slow(value=value, delay=delay, fail=fail, marker=marker)
    return plus_one(value=doubled)
