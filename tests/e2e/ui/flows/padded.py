"""A map whose joined result is large enough to be kept in the object store (300 items of 1 KB each,
over the 256 KiB threshold), after a plain step: the run page reads the run's shape, each step in full
when its panel opens, and the result only when asked."""

from knflow import action, workflow


@action
def first(numbers: list[int]) -> int:
    """The first number."""
    return numbers[0]


@action
def pad(n: int) -> str:
    """``n`` as six digits, padded with a kilobyte of ``x``."""
    return f"{n:06d}" + "x" * 1000


@workflow
def padded(numbers: list[int]) -> object:
    """Pad every number, once the first one is known."""
    first(numbers=numbers)
    return pad.map(n=numbers)
