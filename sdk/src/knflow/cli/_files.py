"""``knflow files`` and ``knflow download``: a run's files listed so their keys can be copied whole, and
saved under their own names without overwriting anything by surprise."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from knflow.client import Client

from . import _context
from ._context import JsonOption, Output, RunArgument, UrlOption, fail, handles_errors, report, show
from ._render import JSON, size_text


def pick(entries: list[JSON], wanted: str) -> JSON:
    """The file of a run that ``wanted`` names: its key, else its name or field when one file has it.

    A name that is not in the listing is passed on as a key (the control plane then says what is wrong).
    """
    for entry in entries:
        if entry.get("key") == wanted:
            return entry
    named = [e for e in entries if wanted in (e.get("name"), e.get("field"))]
    if len(named) == 1:
        return named[0]
    return {"key": wanted, "name": wanted.rsplit("/", 1)[-1]}


def destination(entry: JSON, output: Path | None) -> Path:
    """Where to save ``entry``: ``output``, inside it when it is a folder, else the file's own name here."""
    name = Path(str(entry.get("name") or entry["key"])).name or "download"  # never a path from the server
    if output is None:
        return Path(name)
    return output / name if output.is_dir() else output


def save(client: Client, run_id: str, key: str, dest: Path) -> int:
    """Download to ``dest`` through a ``.part`` file beside it, so a failed download leaves nothing half written."""
    partial = dest.with_name(dest.name + ".part")
    try:
        size = client.download(run_id, key, partial)
        partial.replace(dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return size


def show_files(console: Console, listing: JSON) -> None:
    """A run's files: name, size, type and who wrote each; its key on the next line, whole."""
    entries = listing.get("files") or []
    if not entries:
        console.print(f"no files for run {listing.get('run_id')}", markup=False)
        return
    for entry in entries:
        by = f"{entry.get('step')} attempt {entry.get('attempt')}" if entry.get("step") else "upload"
        expired = "  (expired)" if entry.get("expired_at") else ""
        head = f"{entry.get('name')}  {size_text(entry.get('size'))}  {entry.get('content_type')}  by {by}{expired}"
        console.print(head, markup=False, highlight=False)
        # soft wrap: a long key is never broken by a newline, so it copies whole
        console.print(f"  key: {entry.get('key')}", markup=False, highlight=False, soft_wrap=True)


@handles_errors
def files(run_id: RunArgument, url: UrlOption = None, as_json: JsonOption = False) -> None:
    """List a run's files: the step and attempt that wrote each, its size and type, or when it expired."""
    with _context.make_client(url) as client:
        show(as_json, _context.as_json(client.run_files(run_id)), show_files)


@handles_errors
def download(
    run_id: RunArgument,
    file: Annotated[str, typer.Argument(metavar="FILE", help="The file's key, or its name (see `knflow files RUN`).")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where to save it: a path or a folder (default: its name).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the file if it exists.")] = False,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """Download one file of a run under its own name (streamed; never over an existing file unless --force)."""
    out = Output(as_json)
    with _context.make_client(url) as client:
        entry = pick(_context.as_json(client.run_files(run_id))["files"], file)
        dest = destination(entry, output)
        if dest.exists() and not force:
            fail(f"{dest} exists; pass --force to overwrite it, or -o PATH to save it elsewhere")
        size = save(client, run_id, str(entry["key"]), dest)
    report(out, {"key": entry["key"], "path": str(dest), "size": size}, f"saved {dest} ({size} bytes)")
