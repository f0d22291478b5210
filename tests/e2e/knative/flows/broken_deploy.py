"""An action whose Knative Service never becomes Ready (the test's Knative controller says Ready=False)."""

from knflow import action, workflow


@action
def unready(x: int) -> dict[str, int]:
    """Built, never served."""
    return {"x": x}


@workflow
def broken_deploy(x: int) -> object:
    """Its deployment fails."""
    return unready(x=x)
