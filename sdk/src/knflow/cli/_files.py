"""``knflow files`` and ``knflow download``: a run's files listed so their keys can be copied whole, and
saved under their own names without overwriting anything by surprise."""

from __future__ import annotations

import contextlib
from pathlib import Path

from rich.console import Console

from knflow.client import Client

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
