"""The chaos run's workflows: a chain, a fan-out/in, a map, a flaky action, over HTTP, event and cron triggers,
and an order that waits for its payment event (``wait_for_event``) between two steps.

Every result is a pure function of the inputs, so the checker can tell a lost or wrong output
(``expected_result`` in ``tests/chaos/workload.py`` mirrors these).
"""

import os
import random
import time
from pathlib import Path

from knflow import action, event, http_trigger, schedule, unmapped, wait_for_event, workflow


def _in_flight(marker: str) -> Path | None:
    """Leave this process's pid in ``marker`` while the attempt runs: the fault injector kills from there."""
    if not marker:
        return None
    path = Path(marker) / f"{os.getpid()}"
    path.write_text(str(os.getpid()))
    return path


@action(retries=3, backoff="10ms")
def work(value: int, add: int = 1, delay: float = 0.0, marker: str = "") -> int:
    """value + add, after ``delay`` seconds (the window in which faults hit an attempt in flight)."""
    pid = _in_flight(marker)
    time.sleep(delay)
    if pid is not None:
        pid.unlink(missing_ok=True)
    return value + add


@action(retries=8, backoff="10ms")
def flaky(value: int, delay: float = 0.0, marker: str = "") -> int:
    """value * 2, failing (retryably) a third of the time."""
    pid = _in_flight(marker)
    time.sleep(delay)
    if pid is not None:
        pid.unlink(missing_ok=True)
    if random.random() < 1 / 3 and _may_fail_again(marker, value):
        raise RuntimeError("flaky: failed on purpose")
    return value * 2


def _may_fail_again(marker: str, value: int) -> bool:
    """At most two failures on purpose per value: the faults' lost attempts spend the same 9 attempts, and
    a run failed by its own luck (a few in a hundred chaos runs otherwise) is not what the checker seeks."""
    if not marker:
        return True
    tokens = Path(marker).parent / "flaky-failures"
    tokens.mkdir(exist_ok=True)
    for number in (1, 2):
        try:
            os.close(os.open(tokens / f"{value}.{number}", os.O_CREAT | os.O_EXCL))
            return True
        except FileExistsError:
            continue
    return False


@action
def combine(a: int, b: int, c: int, d: int) -> int:
    """The fan-in: the sum of the four branches."""
    return a + b + c + d


@workflow(triggers=[http_trigger(path="/chaos-chain", timeout="60s")])
def chain(start: int = 0, delay: float = 0.0, marker: str = "") -> object:
    """work -> flaky -> work: (start + 1) * 2 + 1."""
    one = work.named("first")(value=start, delay=delay, marker=marker)
    two = flaky(value=one, delay=delay, marker=marker)
    return work.named("last")(value=two, delay=delay, marker=marker)


@workflow(triggers=[event(type="dev.knflow.chaos.fan")])
def fan(x: int = 0, delay: float = 0.0, marker: str = "") -> object:
    """Four branches of x + i joined by one step: 4x + 6."""
    parts = [work.named(f"branch{i}")(value=x, add=i, delay=delay, marker=marker) for i in range(4)]
    return combine(a=parts[0], b=parts[1], c=parts[2], d=parts[3])


@workflow(triggers=[schedule("*/2 * * * * *", inputs={"value": 7})])
def ticker(value: int = 0) -> object:
    """One step every two seconds: value + 1."""
    return work.named("tick")(value=value)


@workflow(triggers=[event(type="dev.knflow.chaos.map")])
def spread(values: list[int], delay: float = 0.0, marker: str = "") -> object:
    """A map step over ``values``, 3 items at a time: each value + 1, in order."""
    return work.map(value=values, delay=unmapped(delay), marker=unmapped(marker), max_parallel=3)


@workflow(triggers=[event(type="dev.knflow.chaos.order")])
def waiter(order: str = "", x: int = 0, delay: float = 0.0, marker: str = "") -> object:
    """work, then wait for the order's payment event (``dev.knflow.chaos.paid``, ``order`` in its data), then
    work: x + 2, the wait resumed once."""
    placed = work.named("placed")(value=x, delay=delay, marker=marker)
    wait_for_event("dev.knflow.chaos.paid", match={"order": order}, timeout="10m", name="paid")
    return work.named("shipped")(value=placed, delay=delay, marker=marker)
