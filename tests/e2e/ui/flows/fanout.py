"""A map step for the UI's drill-down: one item per number, every item whose number ends in 3 failing
with a traceback; ``on_error="collect"`` keeps going, so the counts hold both kinds."""

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
