"""Two steps on the knative backend: double, then add two."""

from knflow import action, http_trigger, workflow


@action(concurrency=2, max_instances=2, memory="128Mi", cpu="50m", timeout="60s")
def double(x: int) -> dict[str, int]:
    """Twice x."""
    return {"y": 2 * x}


@action(memory="128Mi", cpu="50m")
def add_two(y: int) -> dict[str, int]:
    """y + 2."""
    return {"result": y + 2}


@workflow(triggers=[http_trigger(path="/relay", method="POST", timeout="120s")])
def relay(x: int) -> object:
    """Double, then add two."""
    doubled = double(x=x)
    return add_two(y=doubled["y"])
