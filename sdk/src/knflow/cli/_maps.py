"""``knflow items RUN STEP``: the items of a map step, a page at a time (their counts are under
``knflow get``: :func:`._render.show_maps`)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from . import _context
from ._context import JsonOption, Output, RunArgument, UrlOption, handles_errors
from ._render import clock_time, format_error, status_text

JSON = dict[str, Any]
StepArgument = Annotated[str, typer.Argument(metavar="STEP", help="Its map step.")]
StatusOption = Annotated[
    str | None,
    typer.Option("--status", "-s", help="Only items of this status: pending, running, succeeded, failed, skipped."),
]
LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, max=1000, help="Items a page holds.")]
CursorOption = Annotated[str | None, typer.Option("--cursor", help="Continue after this page's next cursor.")]
AllOption = Annotated[bool, typer.Option("--all", "-a", help="Every page, not only the first.")]


def items_table(items: list[JSON]) -> Table:
    """Items with their status, attempts, timings and output or error."""
    table = Table("index", "status", "attempts", "started", "finished", "output / error", box=None, pad_edge=False)
    for item in items:
        error = item.get("error")
        shown = format_error(error) if error else json.dumps(item.get("output"), default=str)
        table.add_row(
            str(item.get("index")),
            status_text(str(item.get("status"))),
            str(item.get("attempts")),
            clock_time(item.get("started_at")),
            clock_time(item.get("finished_at")),
            shown if len(shown) <= 80 else shown[:77] + "...",
        )
    return table


def register(app: typer.Typer) -> None:
    """Add ``items`` to ``app``."""

    @app.command()
    @handles_errors
    def items(
        run_id: RunArgument,
        step: StepArgument,
        status: StatusOption = None,
        limit: LimitOption = 100,
        cursor: CursorOption = None,
        every: AllOption = False,
        url: UrlOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """List the items of the map step STEP of RUN, in index order, a page at a time."""
        out = Output(as_json)
        found: list[JSON] = []
        with _context.make_client(url) as client:
            while True:
                page = client.items(run_id, step, status=status, limit=limit, cursor=cursor)
                found += [_context.as_json(item) for item in page.items]
                cursor = page.next_cursor
                if not every or cursor is None:
                    break
        if out.as_json:
            out.json({"items": found, "next_cursor": cursor})
            return
        out.console.print(items_table(found))
        if cursor is not None:
            out.console.print(f"more: knflow items {run_id} {step} --cursor {cursor}", markup=False, highlight=False)
