"""A 5-step chain whose middle step can record its pid and take its time (for crash tests)."""

import os
import time
from pathlib import Path

from knflow import action, http_trigger, workflow


@action(retries=2, backoff="10ms")
def step(value: int, delay: float = 0.0, marker: str = "") -> int:
    """value + 1, after ``delay`` seconds; writes its pid to ``marker`` first when given."""
    if marker:
        Path(marker).write_text(str(os.getpid()))
    time.sleep(delay)
    return value + 1


@workflow(triggers=[http_trigger(path="/chain", timeout="60s")])
def chain(start: int = 0, delay: float = 0.0, marker: str = "") -> object:
    """Five steps in a row."""
    value = start
    for index in range(5):
        value = step.named(f"s{index}")(value=value, delay=delay, marker=marker if index == 2 else "")
    return value
