"""An action whose concurrency the SDK accepts and Knative refuses (its limit is 1000 per instance)."""

from knflow import action, workflow


@action(concurrency=5000, max_instances=2)
def crowded(x: int) -> dict[str, int]:
    """Never deployed."""
    return {"x": x}


@workflow
def too_concurrent(x: int) -> object:
    """Its deployment fails at Knative's webhook."""
    return crowded(x=x)
