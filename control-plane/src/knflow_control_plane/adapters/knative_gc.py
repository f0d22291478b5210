"""Which action versions are still in use, for :meth:`KnativeBackend.collect_garbage`.

A version is in use while a deployed workflow calls it, or an unfinished run of any workflow version
does (its remaining steps will invoke it). Everything else may be deleted; if a finished run is retried
later, its first invocation re-creates the Service (the backend's drift repair).
"""

from __future__ import annotations

from knflow_control_plane.domain.records import RunFilter
from knflow_control_plane.ports import RunStore

_PAGE = 500


async def versions_in_use(store: RunStore, project: str) -> set[tuple[str, str]]:
    """The ``(action, version)`` pairs that deployed workflows and unfinished runs of ``project`` use."""
    workflows: set[tuple[str, str]] = set()
    for workflow in await store.list_workflows(project):
        if workflow.get("deployment") in ("ready", "deploying") and workflow.get("deployed_version"):
            workflows.add((workflow["name"], workflow["deployed_version"]))
    cursor: str | None = None
    while True:
        page = await store.list_runs(RunFilter(project=project, status="running", cursor=cursor, limit=_PAGE))
        workflows |= {(run.workflow, run.workflow_version) for run in page.runs}
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    used: set[tuple[str, str]] = set()
    for name, version in workflows:
        record = await store.get_workflow(project, name, version)
        if record is not None:
            used |= {(a["name"], a["version"]) for a in (record["spec"].get("actions") or {}).values()}
    return used
