"""``knflow rejected``: the trigger events that reached the control plane but started no run, and why."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from . import _context
from ._context import JsonOption, Output, UrlOption, handles_errors
from ._render import JSON, short_time


@handles_errors
def rejected(
    *,
    workflow: Annotated[
        str | None, typer.Option("--workflow", "-w", help="Only events refused by this workflow.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=500, help="How many events.")] = 20,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Continue from a previous page.")] = None,
    url: UrlOption = None,
    as_json: JsonOption = False,
) -> None:
    """List trigger events that started no run, and why, newest first.

    An event is rejected when its data does not fit a matching workflow's inputs, or the workflow was
    undeployed before the event was handled.
    """
    out = Output(as_json)
    with _context.make_client(url) as client:
        page = _context.as_json(client.rejected_events(workflow=workflow, limit=limit, cursor=cursor))
    if out.as_json:
        out.json(page)
        return
    show_rejected(out.console, page.get("rejected_events") or [])
    if page.get("next_cursor"):
        out.console.print(f"more: knflow rejected --cursor {page['next_cursor']}", markup=False)


def show_rejected(console: Console, events: list[JSON]) -> None:
    """Each rejected event on two lines: when, which workflow, which event; then why."""
    if not events:
        console.print("no rejected events", markup=False)
        return
    for event in events:
        workflow = event.get("workflow") or "(no workflow)"
        head = f"{short_time(event.get('received_at'))}  {workflow}  event {event.get('event_id')}"
        console.print(head, markup=False, highlight=False)
        console.print(f"  from {event.get('source')} ({event.get('type')}) on {event.get('topic')}", markup=False)
        field = event.get("field")
        console.print(f"  {field + ': ' if field else ''}{event.get('reason')}", markup=False, highlight=False)
