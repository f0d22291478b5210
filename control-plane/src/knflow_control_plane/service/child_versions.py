"""A run pins the version of each workflow its sub-workflow steps run: the one a step names, else the
one deployed when the run starts (as a run is pinned to its own version)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from ..domain.catalogue import Deployment
from ..domain.children import is_child, pin_versions
from ..domain.model import PlannedStep
from ..errors import Conflict


async def pinned_steps(
    deployment: Callable[[str], Awaitable[Deployment | None]], steps: Sequence[PlannedStep], names: Sequence[str]
) -> list[PlannedStep]:
    """``steps`` with the deployed version of each workflow in ``names`` set on the steps that run it.

    Raises:
        Conflict: one of them is not deployed (naming the first step that runs it).
    """
    deployed: dict[str, str] = {}
    for name in names:
        found = await deployment(name)
        if found is None or found.status != "ready":
            step = next(s.name for s in steps if s.wait is not None and is_child(s) and s.wait["workflow"] == name)
            raise Conflict(
                f"step {step!r} runs workflow {name!r}, which is not deployed: deploy it first",
                field=f"steps.{step}.workflow",
            )
        deployed[name] = found.version
    return pin_versions(steps, deployed)
