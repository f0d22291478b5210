"""``knflow keys`` and ``knflow secrets``: the project's API keys and secrets."""

from __future__ import annotations

import sys
from typing import Annotated, cast

import typer
from rich.table import Table

from knflow._durations import parse_duration
from knflow._errors import SpecError
from knflow.rest import Role

from . import _context, _help
from ._context import JsonOption, Output, UrlOption, fail, handles_errors
from ._render import short_time


def _group(help_text: str) -> typer.Typer:
    return _help.PlainTyper(help=help_text, no_args_is_help=True, cls=_help.PlainGroup, rich_markup_mode=None)


keys_app = _group("API keys of the project: create (the key is shown once), list, revoke.")
secrets_app = _group("Secrets of the project: set (from --value or standard input), list names, delete.")


@keys_app.command("create")
@handles_errors
def create_key(
    name: Annotated[str, typer.Argument(help="What the key is for (shown in the list).")],
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="admin (deploy and manage), invoke (hooks and events), read (runs, logs), operator (projects).",
        ),
    ] = "admin",
    expires: Annotated[
        str | None, typer.Option("--expires", help="When it stops working: a duration like 30d, 12h, 3600.")
    ] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API key; the key itself is printed now and never again."""
    if role not in ("admin", "invoke", "read", "operator"):
        fail(f"--role must be admin, invoke, read or operator, not {role!r}")
    try:
        seconds = None if expires is None else parse_duration(expires, field="--expires")
    except SpecError as exc:
        fail(f"--expires: {exc}")
    if seconds is not None and seconds <= 0:
        fail("--expires must be a positive duration")
    out = Output(as_json)
    with _context.make_client(url) as client:
        created = client.create_key(name, role=cast(Role, role), expires_in=seconds)
    if out.as_json:
        out.json(_context.as_json(created))
        return
    until = f", expires {short_time(created.expires_at.isoformat())}" if created.expires_at else ""
    out.console.print(f"key {created.id} ({created.role}{until}); keep it now, it is not shown again:", markup=False)
    typer.echo(created.key)


@keys_app.command("list")
@handles_errors
def list_keys(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """List the project's API keys (never the keys themselves)."""
    out = Output(as_json)
    with _context.make_client(url) as client:
        found = client.list_keys()
    if out.as_json:
        out.json({"api_keys": [_context.as_json(k) for k in found]})
        return
    table = Table("id", "name", "role", "created", "expires", "revoked", box=None)
    for key in found:
        times = (key.created_at, key.expires_at, key.revoked_at)
        table.add_row(key.id, key.name, key.role, *(short_time(t.isoformat() if t else None) for t in times))
    out.console.print(table)


@keys_app.command("revoke")
@handles_errors
def revoke_key(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (see `knflow keys list`).")],
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke an API key (refused by every replica within half a second)."""
    with _context.make_client(url) as client:
        client.revoke_key(key_id)
    if as_json:
        Output(as_json).json({"id": key_id, "revoked": True})
    else:
        typer.echo(f"key {key_id} revoked")


@secrets_app.command("set")
@handles_errors
def set_secret(
    name: Annotated[str, typer.Argument(help="The secret's name: the environment variable actions get.")],
    value: Annotated[str | None, typer.Option("--value", help="The value (default: read from standard input).")] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create or replace a secret; actions that name it (secrets=[NAME]) get it as $NAME."""
    if value is None:
        if sys.stdin.isatty():
            fail("give the value with --value, or on standard input: echo -n VALUE | knflow secrets set NAME")
        value = sys.stdin.read()
    with _context.make_client(url) as client:
        done = client.set_secret(name, value)
    if as_json:
        Output(as_json).json(_context.as_json(done))
    else:
        typer.echo(f"secret {name} {'created' if done.created else 'replaced'}")


@secrets_app.command("list")
@handles_errors
def list_secrets(url: UrlOption = None, as_json: JsonOption = False) -> None:
    """List the project's secrets by name (values are never shown)."""
    out = Output(as_json)
    with _context.make_client(url) as client:
        found = client.list_secrets()
    if out.as_json:
        out.json({"secrets": [_context.as_json(s) for s in found]})
        return
    table = Table("name", "created", "updated", box=None)
    for secret in found:
        table.add_row(secret.name, short_time(secret.created_at.isoformat()), short_time(secret.updated_at.isoformat()))
    out.console.print(table)


@secrets_app.command("delete")
@handles_errors
def delete_secret(
    name: Annotated[str, typer.Argument(help="The secret to delete.")],
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete a secret."""
    with _context.make_client(url) as client:
        client.delete_secret(name)
    if as_json:
        Output(as_json).json({"name": name, "deleted": True})
    else:
        typer.echo(f"secret {name} deleted")
