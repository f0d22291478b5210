"""``knflow logs RUN --follow``: a run's output printed as its steps write it."""

from __future__ import annotations

import json
from collections.abc import Iterable

import typer
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from knflow.client import JSON, Client

from ._context import Output
from ._render import status_text


def follow_logs(client: Client, run_id: str, out: Output) -> None:
    """``logs --follow``: one JSON object per line with ``--json``, else the text under step headers."""
    lines = client.follow_logs(run_id)
    if out.as_json:
        for line in lines:
            typer.echo(json.dumps(line))
        return
    show_following(out.console, lines)


def show_following(console: Console, lines: Iterable[JSON]) -> str | None:
    """Print each piece of output under a header naming its step and attempt; the run's final status.

    A header is printed when the output switches to another attempt, and a status line when an attempt
    ends; the text itself goes out as it comes (no newline added), so a line flushed by the action
    shows at once.
    """
    current: tuple[object, object] | None = None
    for line in lines:
        if line.get("end"):
            console.print(Text.assemble(f"run {line.get('run_id')} ", status_text(str(line.get("status")))))
            return str(line.get("status"))
        key = (line.get("step"), line.get("attempt"))
        text, status = str(line.get("text") or ""), str(line.get("status"))
        if key != current and (text or status == "running"):
            console.print(Rule(f"{key[0]} · attempt {key[1]}", align="left"))
            current = key
        if text:
            console.out(text, end="", highlight=False)
            console.file.flush()
        if status != "running":
            if text and not text.endswith("\n"):
                console.out("")
            console.print(Text.assemble(f"{key[0]} · attempt {key[1]} ", status_text(status)), style="dim")
            current = None
    return None
