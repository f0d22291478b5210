"""A map step for the UI's drill-down: one item per number, every item whose number ends in 3 failing
with a traceback; ``on_error="collect"`` keeps going, so the counts hold both kinds. And a map whose
items wait for files the test creates, to watch the counts move live."""

import os
import time

from knflow import action, workflow


@action
def square(n: int) -> int:
    """``n`` squared; numbers ending in 3 are refused."""
    if n % 10 == 3:
        raise ValueError(f"item {n} is refused")
    return n * n


@workflow
def fanout(numbers: list[int]) -> object:
    """Square every number."""
    return square.map(n=numbers, on_error="collect")


@action(timeout="300s")
def hold(gate: str) -> str:
    """Wait until the file ``gate`` exists (the test decides when an item ends)."""
    while not os.path.exists(gate):
        time.sleep(0.05)
    return gate


@workflow
def held(gates: list[str]) -> object:
    """One item per gate, each running until its gate opens."""
    return hold.map(gate=gates)
