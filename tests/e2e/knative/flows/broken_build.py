"""An action whose image build fails (the test's Job controller fails its Kaniko Job)."""

from knflow import action, workflow


@action(requirements=["no-such-package-knflow==0"])
def unbuildable(x: int) -> dict[str, int]:
    """Never built."""
    return {"x": x}


@workflow
def broken_build(x: int) -> object:
    """Its deployment fails."""
    return unbuildable(x=x)
