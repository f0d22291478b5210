"""A fan-in: two independent branches joined by one step."""

from knflow import action, http_trigger, workflow


@action
def square(x: int) -> int:
    """x squared."""
    return x * x


@action
def double(x: int) -> int:
    """Twice x."""
    return 2 * x


@action
def add(a: int, b: int) -> dict:
    """Join the branches."""
    return {"sum": a + b}


@workflow(triggers=[http_trigger(path="/fanin", timeout="30s")])
def fanin(x: int):
    """x*x + 2*x, computed on two branches."""
    return add(a=square(x=x), b=double(x=x))["sum"]
