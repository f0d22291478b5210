"""``knflow trace RUN``: a run's steps and attempts as bars on one time axis, drawn in the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ._render import JSON, STATUS_MARKS, format_duration, parse_time, status_text

_BAR_WIDTH = 40


def epoch(value: Any) -> float | None:
    """An RFC 3339 time with an offset as epoch seconds; None when absent or naive."""
    parsed = parse_time(value)
    return parsed.timestamp() if parsed is not None and parsed.tzinfo is not None else None


def waterfall(run: JSON, now: float | None = None) -> list[JSON]:
    """A run's spans from its stored timings: the run, then each step and its attempts, in start order.

    Each row has ``kind`` (run, step, attempt), ``name``, ``status``, ``depth``, ``offset_ms`` (from
    the run's start) and ``duration_ms`` (up to ``now`` for what still runs; None if never started).
    """
    origin = epoch(run.get("created_at"))
    end_of_run = epoch(run.get("finished_at")) or now
    rows: list[JSON] = []

    def row(kind: str, name: str, status: Any, depth: int, start: Any, end: Any, **extra: Any) -> JSON:
        began, ended = epoch(start), epoch(end) or (end_of_run if status == "running" else None)
        offset = (began - origin) * 1000 if began is not None and origin is not None else None
        took = (ended - began) * 1000 if began is not None and ended is not None else None
        return {
            "kind": kind,
            "name": name,
            "status": status,
            "depth": depth,
            "offset_ms": offset,
            "duration_ms": took,
            **extra,
        }

    times = (run.get("created_at"), run.get("finished_at"))
    rows.append(row("run", str(run.get("workflow")), run.get("status"), 0, *times, run_id=run.get("id")))
    steps = sorted(run.get("steps") or [], key=lambda s: epoch(s.get("started_at")) or float("inf"))
    for step in steps:
        times = (step.get("started_at"), step.get("finished_at"))
        rows.append(row("step", str(step.get("name")), step.get("status"), 1, *times, action=step.get("action")))
        for attempt in step.get("attempts") or []:
            name = f"attempt {attempt.get('number')}"
            times = (attempt.get("started_at"), attempt.get("finished_at"))
            rows.append(row("attempt", name, attempt.get("status"), 2, *times, error=attempt.get("error")))
    return rows


def waterfall_table(rows: list[JSON], bar_width: int = _BAR_WIDTH) -> Table:
    """The rows of :func:`waterfall` as a table with offsets, durations and bars ``bar_width`` wide on one
    time scale."""
    total = max(((r["offset_ms"] or 0) + (r["duration_ms"] or 0) for r in rows), default=0.0) or 1.0
    table = Table("span", "status", "start", "duration", "timeline", box=None, pad_edge=False)
    for r in rows:
        bar = Text(" " * bar_width)
        if r["offset_ms"] is not None:
            left = min(bar_width - 1, int(r["offset_ms"] / total * bar_width))
            width = max(1, round((r["duration_ms"] or 0) / total * bar_width))
            width = min(width, bar_width - left)
            style = STATUS_MARKS.get(str(r["status"]), ("", "dim"))[1]
            bar = Text.assemble(" " * left, ("█" * width, style), " " * (bar_width - left - width))
        offset = "-" if r["offset_ms"] is None else f"+{format_duration(r['offset_ms'])}"
        table.add_row(
            "  " * r["depth"] + r["name"],
            status_text(str(r["status"])),
            offset,
            format_duration(r["duration_ms"]),
            Text.assemble("|", bar, "|"),
        )
    return table


def show_waterfall(console: Console, run: JSON, rows: list[JSON]) -> None:
    """What ``knflow trace`` prints: the run's ids, then its span waterfall."""
    console.print(Text.assemble(("run ", "bold"), (str(run.get("id")), "bold"), "  ", status_text(str(run["status"]))))
    console.print(f"  trace id  {run.get('trace_id') or '-'}", markup=False, highlight=False)
    # The bars take what the other columns leave of the terminal (80 columns: about 25), at most 40.
    label = max((2 * r["depth"] + len(str(r["name"])) for r in rows), default=4)
    bar_width = max(10, min(_BAR_WIDTH, console.width - label - 44))
    console.print(waterfall_table(rows, bar_width))
