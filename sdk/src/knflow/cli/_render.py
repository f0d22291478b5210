"""How the CLI shows runs, steps, logs and deployments to a person (rich tables and lines)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from rich.console import Console
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

JSON = dict[str, Any]

STATUS_MARKS = {
    "queued": ("◷", "blue"),
    "throttled": ("◷", "blue"),
    "running": ("▶", "cyan"),
    "succeeded": ("✓", "green"),
    "failed": ("✗", "red"),
    "cancelled": ("⊘", "yellow"),
    "waiting": ("⏸", "magenta"),
}


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def duration_ms(item: JSON) -> float | None:
    """A run's, step's or attempt's duration: ``duration_ms`` when given, else from its timestamps."""
    given = item.get("duration_ms")
    if isinstance(given, int | float):
        return float(given)
    started, finished = (
        parse_time(item.get("started_at") or item.get("created_at")),
        parse_time(item.get("finished_at")),
    )
    if started is None or finished is None:
        return None
    try:
        return (finished - started).total_seconds() * 1000
    except TypeError:  # one naive, one aware
        return None


def format_duration(ms: float | None) -> str:
    """``"85 ms"``, ``"1.25 s"`` or ``"2m 05s"``; ``"-"`` when unknown."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    minutes, seconds = divmod(int(ms / 1000), 60)
    return f"{minutes}m {seconds:02d}s"


def short_time(value: Any) -> str:
    """An RFC 3339 time as ``YYYY-MM-DD HH:MM:SS`` (UTC offset dropped); ``"-"`` when absent."""
    parsed = parse_time(value)
    return parsed.strftime("%Y-%m-%d %H:%M:%S") if parsed is not None else str(value or "-")


def format_error(error: Any) -> str:
    """A step's or run's error on one line: ``Type: message`` from a dict, or the text as is."""
    if error is None:
        return ""
    if isinstance(error, dict):
        kind = error.get("type") or error.get("code") or ""
        message = error.get("message") or error.get("detail") or json.dumps(error, default=str)
        return f"{kind}: {message}" if kind else str(message)
    return str(error)


def status_text(status: str) -> Text:
    """A status with its mark and colour."""
    mark, style = STATUS_MARKS.get(status, ("·", "dim"))
    return Text(f"{mark} {status}", style=style)


def hook_paths(spec: JSON) -> list[str]:
    """``METHOD /hooks/path`` for each HTTP trigger of a workflow spec (as JSON)."""
    return [
        f"{t.get('method', 'POST')} /hooks/{str(t.get('path', '')).strip('/')}"
        for t in spec.get("triggers", [])
        if t.get("kind") == "http"
    ]


def deployments_table(rows: list[JSON]) -> Table:
    """The table ``knflow deploy`` prints: one row per workflow."""
    table = Table("workflow", "version", "status", "HTTP triggers", title="deployed")
    for row in rows:
        ready = row["status"] == "ready"
        status = Text(f"{'✓' if ready else '✗'} {row['status']}", style="green" if ready else "red")
        table.add_row(row["workflow"], str(row["version"]), status, "\n".join(row["triggers"]) or "-")
    return table


def clock_time(value: Any) -> str:
    """An RFC 3339 time as ``MM-DD HH:MM:SS`` (short enough for a table at 80 columns); ``"-"`` when absent."""
    parsed = parse_time(value)
    return parsed.strftime("%m-%d %H:%M:%S") if parsed is not None else str(value or "-")


def recent_time(value: Any, today: date) -> str:
    """``HH:MM:SS`` for a time of ``today`` (UTC), else as :func:`clock_time`: six columns more for the
    workflow's name in ``knflow runs`` at 80 columns, where most runs listed are today's."""
    parsed = parse_time(value)
    if parsed is not None and parsed.astimezone(UTC).date() == today:
        return parsed.strftime("%H:%M:%S")
    return clock_time(value)


def runs_table(runs: list[JSON]) -> Table:
    """The table ``knflow runs`` prints (80 columns: the version is in ``knflow get`` and ``--json``)."""
    table = Table(box=None, pad_edge=False)
    # Ids are what a reader copies into the next command: never elide them.
    table.add_column("id", no_wrap=True, min_width=max((len(str(r.get("id"))) for r in runs), default=2))
    table.add_column("workflow", overflow="fold")
    today = datetime.now(UTC).date()
    for header in ("status", "created", "duration"):
        table.add_column(header, no_wrap=True)
    for run in runs:
        table.add_row(
            str(run.get("id")),
            f"↳ {run.get('workflow')}" if run.get("parent_run_id") else str(run.get("workflow")),
            queued_text(run) or status_text(str(run.get("status"))),
            recent_time(run.get("created_at"), today),
            format_duration(duration_ms(run)),
        )
    return table


def queue_text(run: JSON) -> str | None:
    """Where a queued run waits: ``position 2 in queue acme`` (``in its workflow's queue`` without a key)."""
    queue = run.get("queue")
    if run.get("status") != "queued" or not isinstance(queue, dict):
        return None
    where = "its workflow's queue" if queue.get("key") is None else f"queue {queue.get('key')}"
    return f"position {queue.get('position')} in {where}"


def queued_text(run: JSON) -> Text | None:
    """A queued run's status with its place (``◷ queued #2``), for the runs table; None for any other."""
    queue = run.get("queue")
    if run.get("status") != "queued" or not isinstance(queue, dict):
        return None
    return Text.assemble(status_text("queued"), f" #{queue.get('position')}")


def steps_table(run: JSON) -> Table:
    """A run's steps with their status, attempts and timings (errors are printed below it, whole)."""
    table = Table("step", "status", "attempts", "started", "duration", box=None, pad_edge=False)
    for step in run.get("steps", []):
        name, action = str(step.get("name")), str(step.get("action"))
        wait = step.get("wait") or {}
        if wait.get("kind") == "workflow":  # a sub-workflow step: its child run is listed below the table
            action = f"workflow {wait.get('workflow')}"
        table.add_row(
            name if action in (name, "None", "") else f"{name} ({action})",  # an approval or a sleep: none
            status_text(str(step.get("status"))),
            "-" if step.get("map") else str(len(step.get("attempts") or [])),  # a map's are its items
            clock_time(step.get("started_at")),
            format_duration(duration_ms(step)),
        )
    return table


def trigger_text(trigger: Any) -> str:
    """What started a run, on one line: ``manual``, ``http POST /orders``, ``schedule 0 9 * * * (UTC)``..."""
    if not isinstance(trigger, dict):
        return "-"
    kind = str(trigger.get("kind") or "-")
    found = trigger.get("event")
    event: JSON = found if isinstance(found, dict) else {}
    if kind == "http":
        return f"http {trigger.get('method')} {trigger.get('path')}"
    if kind == "schedule":
        return f"schedule {trigger.get('cron')} ({trigger.get('timezone')}), tick {trigger.get('tick')}"
    if kind == "event":
        return f"event {event.get('type')} from {event.get('source')}, id {event.get('id')}"
    return kind


def show_run(console: Console, run: JSON) -> None:
    """What ``knflow get`` prints: the run, its steps, then its result or error."""
    console.print(Text.assemble(("run ", "bold"), (str(run.get("id")), "bold"), "  ", status_text(str(run["status"]))))
    fields = [
        ("workflow", f"{run.get('workflow')} ({run.get('workflow_version') or '-'})"),
        ("trigger", trigger_text(run.get("trigger"))),
        ("created", str(run.get("created_at") or "-")),
        ("finished", str(run.get("finished_at") or "-")),
        ("duration", format_duration(duration_ms(run))),
        ("trace id", str(run.get("trace_id") or "-")),
    ]
    if run.get("parent_run_id"):
        fields.insert(1, ("parent", f"{run.get('parent_run_id')} (step {run.get('parent_step')})"))
    if (queued := queue_text(run)) is not None:
        fields.insert(1, ("queue", queued))
    for label, value in fields:
        console.print(f"  {label:<9} {value}", markup=False, highlight=False)
    if run.get("steps"):
        console.print(steps_table(run))
    for step in run.get("steps") or []:
        if step.get("child_run_id"):  # ids are copied into the next command: one line each, whole
            line = f"  step {step.get('name')}: child run {step.get('child_run_id')}"
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    show_maps(console, run)
    show_outcome(console, run)


def counts_line(step: JSON) -> str | None:
    """``resize: 998/1000 items succeeded, 2 failed, 0 running, 0 pending, 0 skipped``; None for a step
    that is not a map (or has not started)."""
    counts = step.get("map")
    if not isinstance(counts, dict):
        return None
    rest = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("failed", "running", "pending", "skipped"))
    return f"map {step.get('name')}: {counts.get('succeeded', 0)}/{counts.get('total', 0)} items succeeded, {rest}"


def show_maps(console: Console, run: JSON) -> None:
    """A line of counts per map step of ``run``, and how to list its items."""
    for step in run.get("steps", []):
        line = counts_line(step)
        if line is not None:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
            # its own line: with a run id the counts would pass 80 columns
            console.print(f"  items: knflow items {run.get('id')} {step.get('name')}", markup=False, highlight=False)


def show_waits(console: Console, run: JSON) -> None:
    """What each waiting step of a running run waits for: a person (and how to decide), an event, or the
    time."""
    for step in run.get("steps", []):
        wait = step.get("wait") or {}
        if step.get("status") != "waiting":
            continue
        name, until = step.get("name"), step.get("wake_at")
        if wait.get("kind") == "approval":
            line = f"step {name} waits for approval: {wait.get('prompt')}"
            line += f" (until {until})" if until else ""
            line += f"\n  knflow approve {run.get('id')} {name}\n  knflow reject {run.get('id')} {name}"
        elif wait.get("kind") == "event":
            line = f"step {name} waits for event {wait.get('type')}"
            line += f" from {wait.get('source')}" if wait.get("source") else ""
            line += f" (until {until})" if until else ""
        else:
            line = f"step {name} sleeps until {until}"
        console.print(line, markup=False, highlight=False, soft_wrap=True)  # commands copied whole


def show_outcome(console: Console, run: JSON) -> None:
    """A finished run's result, or which step failed and why."""
    status = run.get("status")
    if status == "succeeded":
        # soft wrap: a long value (a file URL) is never cut by a newline, so it copies whole
        console.print(f"result: {json.dumps(run.get('result'), indent=2, default=str)}", markup=False, soft_wrap=True)
        return
    if status not in ("failed", "cancelled"):
        show_waits(console, run)
        return
    failed = [s for s in run.get("steps", []) if s.get("status") == "failed"]
    for step in failed:
        console.print(f"step {step.get('name')} failed: {format_error(step.get('error'))}", markup=False)
        show_traceback(console, step.get("error"))
    if run.get("error") is not None and all(
        format_error(run["error"]) != format_error(step.get("error")) for step in failed
    ):  # the failed step's error, told once
        console.print(f"run {status}: {format_error(run.get('error'))}", markup=False)
    elif not failed:
        console.print(f"run {status}", markup=False)


#: the most lines of a step's traceback printed (its innermost frames, where the error is)
TRACEBACK_LINES = 40


def show_traceback(console: Console, error: Any) -> None:
    """A step error's traceback, indented (its last ``TRACEBACK_LINES`` lines), when it has one."""
    trace = error.get("traceback") if isinstance(error, dict) else None
    if not isinstance(trace, str) or not trace.strip():
        return
    lines = trace.rstrip("\n").splitlines()
    if len(lines) > TRACEBACK_LINES:
        lines = ["...", *lines[-TRACEBACK_LINES:]]
    # soft wrap: the terminal folds a long line (a file path) itself, so it still reads and copies whole
    console.print(Text("\n".join(f"  {line}" for line in lines), style="dim"), highlight=False, soft_wrap=True)


def show_logs(console: Console, logs: JSON) -> None:
    """Each step's attempts' logs under a header."""
    entries = logs.get("logs") or []
    if not entries:
        console.print(f"no logs for run {logs.get('run_id')}", markup=False)
    for entry in entries:
        header = f"{entry.get('step')} · attempt {entry.get('attempt')} · {entry.get('status')}"
        console.print(Rule(header, align="left"))
        text = entry.get("logs")
        if isinstance(text, list):
            text = "\n".join(str(line) for line in text)
        console.print(text.rstrip("\n") if text else "(no output)", markup=False, highlight=False)


def size_text(value: Any) -> str:
    """A byte count for people: ``512 B``, ``25.0 KiB``; ``-`` when unknown."""
    if not isinstance(value, int):
        return "-"
    amount, unit = float(value), "B"
    for larger in ("KiB", "MiB", "GiB"):
        if amount < 1024:
            break
        amount, unit = amount / 1024, larger
    return f"{value} B" if unit == "B" else f"{amount:.1f} {unit}"
