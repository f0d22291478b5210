"""The workflows of ``orchestration_bench`` (and ``steady``): the user code a control plane loads for them.

No-op actions, async and plain (``def``), chained, fanned out and parked on a gate.
"""

FAN = 1000
FLOW = f"""
import asyncio
import os

from knflow import action, workflow


@action(concurrency=64)
async def noop(value: int = 0) -> int:
    return value


@action(concurrency=64)
def noop_sync(value: int = 0) -> int:  # a plain function, as most actions are: it runs in a worker thread
    return value


@action(concurrency=64)
async def join(values: list) -> int:
    return len(values)


@action(concurrency=256)
async def gate(path: str) -> int:
    while not os.path.exists(path):  # parked until the benchmark opens the gate
        await asyncio.sleep(0.05)
    return 1


def _chain(step, length: int, value):
    for index in range(length):
        value = step.named(f"s{{index}}")(value=value)
    return value


@workflow
def chain10(value: int = 0):
    return _chain(noop, 10, value)


@workflow
def chain10_sync(value: int = 0):
    return _chain(noop_sync, 10, value)


@workflow
def chain5(value: int = 0):
    return _chain(noop, 5, value)


@workflow
def fan(value: int = 0):
    seed = noop.named("seed")(value=value)
    return join(values=[noop.named(f"f{{i}}")(value=seed) for i in range({FAN})])


@workflow
def waiting(path: str):
    return gate(path=path)
"""
