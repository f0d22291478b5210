"""What registration checks beyond the spec itself, so that a registered version is one deploy can take:
HTTP trigger paths no other workflow holds, and one code per action version (code paths inside the
bundle: :func:`.functions.check_code_paths`, as it is packed)."""

from __future__ import annotations

from typing import Any

from knflow import SpecError
from knflow.spec import ActionSpec, HttpTrigger, SourceTrigger, WorkflowSpec
from knflow.validation import validate_workflow

from ..domain.children import MAX_DEPTH
from ..domain.flows import child_input_problems, refuse_not_run_yet
from ..errors import Conflict, InvalidRequest
from ..ports import CatalogueStore
from .functions import unpack


async def check_routes(store: CatalogueStore, project: str, spec: WorkflowSpec) -> None:
    """No HTTP trigger of ``spec`` is a route another deployed workflow holds.

    Raises:
        Conflict: naming the first taken method and path (``field``: ``triggers``).
    """
    for trigger in spec.triggers:
        if isinstance(trigger, HttpTrigger):
            # a hook path is the plane's: another project's holds it as well (its name is not told)
            route = await store.find_route(None, trigger.method, trigger.path)
            if route is not None and (route.project != project or route.workflow != spec.name):
                holder = f"workflow {route.workflow!r}" if route.project == project else "another project"
                raise Conflict(f"HTTP trigger {trigger.method} {trigger.path} is taken by {holder}", field="triggers")


def actions_of(spec: WorkflowSpec) -> list[ActionSpec]:
    """The action versions a registration stores: the spec's actions and its custom triggers' functions."""
    return [*spec.actions.values(), *(t.as_action() for t in spec.triggers if isinstance(t, SourceTrigger))]


async def check_same_code(
    store: CatalogueStore, project: str, action: ActionSpec, files: dict[str, bytes] | None
) -> None:
    """An action version already stored with code has the same code for its module in ``files``: a version
    is a hash of that module, so other code under the same version would be ambiguous (the first stayed).

    Raises:
        Conflict: naming the action (``field``: ``actions.{name}``).
    """
    if not files:
        return
    stored = await store.get_action_version(project, action.name, action.version)
    if stored is None or stored.code is None:
        return
    module = action.entrypoint.split(":", 1)[0].replace(".", "/")
    old = unpack(stored.code)
    for path in (f"{module}.py", f"{module}/__init__.py"):
        if path in files or path in old:
            if files.get(path) != old.get(path):
                raise Conflict(
                    f"action {action.name} version {action.version} is registered with other code in {path}: "
                    "a version names one code (change the action to make a new version)",
                    field=f"actions.{action.name}",
                )
            return


def checked_document(spec: WorkflowSpec, catalogue: dict[str, ActionSpec]) -> tuple[dict[str, Any], str]:
    """The stored form and version of ``spec`` carrying ``catalogue``, once validated against it.

    Raises:
        SpecError: when the spec does not validate, or uses a feature the engine does not run yet
            (each field named).
    """
    try:
        validate_workflow(spec, catalogue)
    except SpecError:
        raise  # its problems name each field
    except ValueError as exc:
        raise InvalidRequest(str(exc), field="spec") from exc
    refuse_not_run_yet(spec)
    full = spec.model_copy(update={"actions": catalogue})
    return full.model_dump(mode="json"), full.version


async def check_children(store: CatalogueStore, project: str, spec: WorkflowSpec) -> None:
    """Each sub-workflow step names a registered workflow (and version), with inputs it takes.

    Raises:
        SpecError: naming each field that is wrong (``steps.{name}.workflow.name``, ``...inputs.{key}``).
    """
    problems: list[tuple[str, str]] = []
    for step in spec.steps:
        if step.workflow is None:
            continue
        where, child = f"steps.{step.name}", step.workflow
        if child.name == spec.name:
            problems.append((f"{where}.workflow.name", f"workflow {spec.name!r} cannot run itself as a step"))
            continue
        record = await store.get_workflow(project, child.name, child.version)
        if record is None:
            wanted = f"workflow {child.name!r}" + (f" version {child.version!r}" if child.version else "")
            field = "version" if child.version and await store.get_workflow(project, child.name) else "name"
            problems.append((f"{where}.workflow.{field}", f"{wanted} is not registered"))
            continue
        called = WorkflowSpec.model_validate(record.spec)
        problems.extend(child_input_problems(step, called))
        loop = await _calls_back(store, project, called, spec.name, [spec.name, child.name])
        if loop:
            problems.append((f"{where}.workflow.name", f"a loop of sub-workflows: {' -> '.join(loop)}"))
    if problems:
        raise SpecError.collect(problems)


async def _calls_back(
    store: CatalogueStore,
    project: str,
    spec: WorkflowSpec,
    target: str,
    path: list[str],
    seen: set[tuple[str, str | None]] | None = None,
) -> list[str] | None:
    """The chain of registered workflows by which ``spec`` runs ``target`` again, if it does (each step's
    named version, or the latest registered; a cycle only through a rollback is caught at run time by
    the depth bound, ``domain/children.py``). Each workflow is looked into once (``seen``)."""
    seen = set() if seen is None else seen
    if len(path) > MAX_DEPTH:
        return None
    for step in spec.steps:
        if step.workflow is None:
            continue
        called_name, version = step.workflow.name, step.workflow.version
        if called_name == target:
            return [*path, target]
        if called_name in path or (called_name, version) in seen:
            continue  # a loop without ``target`` (its own registration refused it), or looked into already
        seen.add((called_name, version))
        record = await store.get_workflow(project, called_name, version)
        if record is not None:
            called = WorkflowSpec.model_validate(record.spec)
            found = await _calls_back(store, project, called, target, [*path, called_name], seen)
            if found:
                return found
    return None
