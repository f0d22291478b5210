"""Pinned versions: a run keeps the workflow version and the action versions it started with (its steps
record them when it is created), so a deploy never changes a run in progress; these use cases move the
deployment back, or start a run again on the version deployed now."""

from __future__ import annotations

from typing import Any

from ..domain.model import RunStatus
from ..domain.records import Transition
from ..errors import Conflict, InvalidRequest
from .runs import Runs
from .workflows import Workflows


async def rollback(workflows: Workflows, name: str, version: str | None = None) -> dict[str, Any]:
    """Deploy ``version`` of ``name`` again, by default the version registered before the deployed one.
    Runs in progress keep their versions; runs started from now on take this one.

    Raises:
        NotFound: no such workflow or version.
        Conflict: the workflow was never deployed, or no version was registered before the deployed one.
    """
    deployment = await workflows.store.get_deployment(workflows.project, name)
    if deployment is None:
        await workflows.spec(name)  # NotFound first, when the workflow does not exist at all
        raise Conflict(f"workflow {name!r} was never deployed: deploy it first", field="workflow")
    if version is None:
        version = await _previous(workflows, name, deployment.version)
    else:
        await workflows.spec(name, version)  # NotFound naming the version
    return await workflows.deploy(name, version)  # the deployment keeps the file it came from


async def _previous(workflows: Workflows, name: str, current: str) -> str:
    history = [h.version for h in await workflows.store.workflow_history(workflows.project, name)]  # newest first
    older = history[history.index(current) + 1 :] if current in history else []
    if not older:
        raise Conflict(
            f"workflow {name!r}: no version was registered before {current}; name one: knflow rollback {name} VERSION",
            field="version",
        )
    return str(older[0])


async def retry_on_latest(workflows: Workflows, runs: Runs, run_id: str, step: str | None = None) -> Transition:
    """Start a new run of the version of the run's workflow deployed now, with the run's inputs; the run
    itself stays as it ended, on its own version. Every step runs: outputs of another version's steps are
    not reused. The new run's trigger names the run it retries (``{"kind": "retry", "run_id", "version"}``).

    Raises:
        InvalidRequest: ``step`` is given (a step to run again belongs to the retry of the run itself).
        NotFound: no such run in this project.
        Conflict: the run has not finished, or the workflow is not deployed.
    """
    if step is not None:
        raise InvalidRequest("a retry on the latest version runs every step: leave out the step", field="step")
    run = await runs.get(run_id)  # NotFound when it is not a run of this project
    if not RunStatus(run.status).finished:
        raise Conflict(f"run {run_id!r} cannot be retried: it is still {run.status}", field="run_id")
    inputs = run.inputs if workflows.payloads is None else await workflows.payloads.resolve(run.inputs)
    trigger = {"kind": "retry", "run_id": run_id, "version": run.workflow_version}
    return await workflows.start(run.workflow, inputs, trigger=trigger)
