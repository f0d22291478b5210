"""A workflow quick enough to start many runs of: the UI's pagination tests list more runs than a page."""

from knflow import action, workflow


@action
def tock(n: int) -> int:
    """Its input, doubled."""
    return n * 2


@workflow
def tick(n: int) -> object:
    """One quick step."""
    return tock(n=n)
