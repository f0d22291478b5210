"""``knflow projects``: the projects one control plane serves (an operator's commands)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from . import _context, _help
from ._context import JsonOption, Output, UrlOption, handles_errors
from ._render import short_time

projects_app = _help.PlainTyper(
    help="Projects of the control plane: create (prints its first admin key once), list, delete.",
    no_args_is_help=True,
    cls=_help.PlainGroup,
    rich_markup_mode=None,
)


@projects_app.command("create")
@handles_errors
def create_project(
    name: Annotated[str, typer.Argument(help="The project's name: 1-40 of a-z, 0-9 and '-'.")],
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a project; its first admin key is printed now and never again."""
    out = Output(as_json)
    with _context.make_client(url) as client:
        created = client.create_project(name)
    if out.as_json:
        out.json(_context.as_json(created))
        return
    key = created.admin_key
    out.console.print(f"project {created.name} created; its admin key {key.id}, shown only now:", markup=False)
    typer.echo(key.key)


@projects_app.command("list")
@handles_errors
def list_projects(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """List the projects you may see (every one with an operator's key)."""
    out = Output(as_json)
    with _context.make_client(url) as client:
        found = client.list_projects()
    if out.as_json:
        out.json({"projects": [_context.as_json(p) for p in found]})
        return
    table = Table("name", "created", "workflows", "deployed", box=None)
    for project in found:
        deployed = ", ".join(project.deployed) or "-"
        table.add_row(project.name, short_time(project.created_at.isoformat()), str(project.workflows), deployed)
    out.console.print(table)


@projects_app.command("delete")
@handles_errors
def delete_project(
    name: Annotated[str, typer.Argument(help="The project to delete.")],
    force: Annotated[
        bool, typer.Option("--force", help="Undeploy its deployed workflows first (else they refuse it).")
    ] = False,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a project with its workflows, runs, files' records, keys and secrets."""
    with _context.make_client(url) as client:
        deleted = client.delete_project(name, force=force)
    if as_json:
        Output(as_json).json(_context.as_json(deleted))
        return
    undeployed = f" (undeployed {', '.join(deleted.undeployed)})" if deleted.undeployed else ""
    typer.echo(f"project {name} deleted{undeployed}")
