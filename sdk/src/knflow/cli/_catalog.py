"""``knflow workflows`` and ``knflow graph``: what is deployed, how it starts, and what it does."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from knflow._cron import CronExpression, zone
from knflow._errors import SpecError
from knflow.client import ApiError, Client
from knflow.spec import WorkflowSpec

from . import _context, _graph
from ._context import JsonOption, Output, UrlOption, handles_errors
from ._render import JSON


def children_first(specs: dict[str, WorkflowSpec]) -> list[str]:
    """The names of ``specs`` by name, except that a workflow another one runs as a sub-workflow step comes
    before it: the control plane registers a workflow only once the ones it runs are registered."""
    ordered: list[str] = []

    def visit(name: str, seen: frozenset[str]) -> None:
        if name in ordered or name in seen:  # a loop is refused by the control plane, naming the step
            return
        for step in specs[name].steps:
            if step.workflow is not None and step.workflow.name in specs:
                visit(step.workflow.name, seen | {name})
        ordered.append(name)

    for name in sorted(specs):
        visit(name, frozenset())
    return ordered


def check_source(client: Client, names: list[str], source: str) -> None:
    """Exit with a one-line error when one of ``names`` is deployed from another file than ``source``."""
    for name in names:
        try:
            deployment = client.get_deployment(name)
        except ApiError as exc:
            if exc.status == 404:
                continue
            raise
        deployed_from = deployment.source
        if deployment.status != "undeployed" and deployed_from not in (None, source):
            _context.fail(
                f"workflow {name!r} is deployed from {deployed_from}; "
                f"deploy again with --replace to replace it with {source}"
            )


WorkflowArgument = Annotated[str, typer.Argument(metavar="WORKFLOW", help="The workflow.")]


@handles_errors
def workflows(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """List workflows: deployed version, status and triggers (with a schedule's next fire time)."""
    out = Output(as_json)
    now = datetime.now(UTC)
    rows: list[JSON] = []
    with _context.make_client(url) as client:
        for listed in client.list_workflows():
            version = listed.deployed_version or listed.latest_version
            spec = client.get_workflow_version(listed.name, version).spec if version else {}
            rows.append(
                {
                    "name": listed.name,
                    "status": listed.deployment or "not deployed",
                    "deployed_version": listed.deployed_version,
                    "latest_version": listed.latest_version,
                    "triggers": [trigger_row(t, now) for t in spec.get("triggers") or []],
                }
            )
    if out.as_json:
        out.json({"workflows": rows})
    else:
        show_workflows(out.console, rows)


def trigger_row(trigger: JSON, now: datetime) -> JSON:
    """A trigger with ``summary`` (one line a person reads) and, for a schedule, ``next_fire_at``."""
    row = {**trigger, "summary": trigger_summary(trigger)}
    if trigger.get("kind") == "schedule":
        row["next_fire_at"] = next_fire(trigger, now)
    return row


def trigger_summary(trigger: JSON) -> str:
    """``POST /hooks/orders``, ``event com.shop.* from /shop/*``, ``schedule 0 9 * * 1-5 (Europe/Paris)``."""
    kind = trigger.get("kind")
    if kind == "http":
        return f"{trigger.get('method', 'POST')} /hooks/{str(trigger.get('path', '')).strip('/')}"
    if kind == "schedule":
        return f"schedule {trigger.get('cron')} ({trigger.get('timezone') or 'UTC'})"
    if kind in ("event", "source"):
        label = "event" if kind == "event" else f"custom trigger {trigger.get('name')}, event"
        text = f"{label} {trigger.get('type')}"
        text += f" from {trigger['source']}" if trigger.get("source") else ""
        text += f" on {trigger['topic']}" if trigger.get("topic") not in (None, "knflow.triggers") else ""
        filters = trigger.get("filters") or {}
        return text + (" where " + ", ".join(f"{k}={v}" for k, v in filters.items()) if filters else "")
    return str(kind)


def next_fire(trigger: JSON, now: datetime) -> str | None:
    """A schedule's next fire time after ``now``, RFC 3339 in its own time zone (None if it never fires)."""
    try:
        at = CronExpression.parse(str(trigger.get("cron"))).next_after(now, zone(trigger.get("timezone") or "UTC"))
    except (SpecError, ValueError):
        return None
    return at.isoformat()


def show_workflows(console: Console, rows: list[JSON]) -> None:
    """Each workflow on a line (name, version, status), its triggers indented below."""
    if not rows:
        console.print("no workflows: deploy one with `knflow deploy FILE`", markup=False)
    for row in rows:
        version = row["deployed_version"] or row["latest_version"] or "-"
        console.print(f"{row['name']}  {version}  {row['status']}", markup=False, highlight=False)
        for trigger in row["triggers"]:
            console.print(f"  {trigger['summary']}", markup=False, highlight=False)
            if trigger.get("kind") == "schedule":
                next_at = _when(trigger.get("next_fire_at"), trigger.get("timezone") or "UTC")
                console.print(f"    next: {next_at}", markup=False, highlight=False)


def _when(value: Any, timezone: str) -> str:
    if not isinstance(value, str):
        return "never"
    at = datetime.fromisoformat(value).astimezone(zone(timezone))
    return f"{at:%Y-%m-%d %H:%M:%S} {at.tzname() or ''}".rstrip()


@handles_errors
def graph(
    workflow: WorkflowArgument,
    version: Annotated[str | None, typer.Option("--version", help="This version (default: the deployed one).")] = None,
    pick: Annotated[
        str | None, typer.Option("--workflow", "-w", help="With a file that defines several: the one to draw.")
    ] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Draw a workflow's DAG: its steps in layers, where each input comes from, and its result.

    WORKFLOW may be a .py, .yaml or .json file: its workflow is drawn as traced here, before any deploy.
    """
    out = Output(as_json)
    if Path(workflow).suffix in (".py", ".yaml", ".yml", ".json") and Path(workflow).is_file():
        workflow, version, spec = _from_file(Path(workflow), pick)
    else:
        with _context.make_client(url) as client:
            if version is None:
                found = client.get_workflow(workflow)
                version = found.deployment.version if found.deployment is not None else found.version
            spec = client.get_workflow_version(workflow, version).spec
    if out.as_json:
        out.json({"workflow": workflow, "version": version, "layers": _graph.layers(spec), "spec": spec})
        return
    out.console.print(f"{workflow}  {version}", markup=False, highlight=False)
    for line in _graph.draw(spec, width=min(out.console.width, 100)):
        out.console.print(line, markup=False, highlight=False)


def _from_file(path: Path, pick: str | None) -> tuple[str, str, JSON]:
    """The name, version and spec of the workflow ``path`` defines (``pick`` among several; a one-line
    error when it is not there or not chosen)."""
    from knflow._loader import load_file

    workflows = load_file(path).workflows
    found = ", ".join(sorted(workflows)) or "none"
    if pick is None and len(workflows) != 1:
        _context.fail(f"{path} defines {len(workflows)} workflows ({found}): choose one with --workflow")
    name = pick if pick is not None else next(iter(workflows))
    if name not in workflows:
        _context.fail(f"{path} defines no workflow {name!r} (found: {found})")
    return name, workflows[name].version, workflows[name].model_dump(mode="json")
