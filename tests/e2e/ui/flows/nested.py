"""A sub-workflow for the UI's links between a parent run and its child run."""

from knflow import action, workflow


@action
def double(n: int) -> int:
    """``n`` doubled."""
    return n * 2


@workflow
def inner(n: int) -> object:
    """The child: one step; its result's keys are the parent step's outputs."""
    return {"n": double(n=n)}


@workflow
def outer(n: int) -> object:
    """The parent: the child's result, doubled again."""
    got = inner(n=n)
    return double.named("again")(n=got["n"])
