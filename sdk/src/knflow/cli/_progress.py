"""Live progress of a run the CLI follows: one line per attempt of each step, as it starts and ends.

A person wants to see what happened to their code: ``attempt 1 failed: ...; retrying in 2.0 s``, then
``attempt 2 succeeded``. The orchestrator's own bookkeeping (a step ``pending`` or ``ready`` to be
claimed) is not shown.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.text import Text

from ._render import JSON, duration_ms, format_duration, format_error, queue_text, status_text
from ._waterfall import epoch

_ENDED = frozenset({"succeeded", "failed", "lost", "cancelled"})


#: the statuses of a step without attempts worth a line: it never ran, or it waits and ends without a worker
_NO_ATTEMPT = ("cancelled", "skipped", "waiting", "succeeded", "failed")


class Progress:
    """Prints each attempt's start and end as polls of a run reveal them (``on_poll`` of ``Client.wait``)."""

    def __init__(self, console: Console):
        self.console = console
        self.shown: set[tuple[str, int, str]] = set()
        self.shown_steps: set[tuple[str, str]] = set()
        self.queue: str | None = None

    def __call__(self, run: JSON) -> None:
        """Print what changed since the last poll."""
        queued = queue_text(run)
        if queued is not None and queued != self.queue:  # its place, each time it moves up
            self.queue = queued
            self.console.print(Text.assemble("  ", status_text("queued"), f"  {queued}"))
        for step in run.get("steps", []):
            name = str(step.get("name"))
            attempts = sorted(step.get("attempts") or [], key=lambda a: int(a.get("number") or 0))
            for attempt in attempts:
                self._attempt(name, step, attempt, last=attempt is attempts[-1])
            child = step.get("child_run_id")
            if child and (name, f"child {child}") not in self.shown_steps:  # a sub-workflow step started one
                self.shown_steps.add((name, f"child {child}"))
                self.console.print(Text.assemble("  ↳ ", (name, "bold"), f"  child run {child}"))
            status = str(step.get("status"))
            if not attempts and status in _NO_ATTEMPT and (name, status) not in self.shown_steps:
                # never ran (skipped, or the run ended first); or runs no action: an approval or a sleep
                # waits, then ends
                self.shown_steps.add((name, status))
                line = Text.assemble("  ", status_text(status), "  ", (name, "bold"))
                if status == "failed" and step.get("error"):
                    line.append(f": {format_error(step.get('error'))}")
                self.console.print(line)

    def _attempt(self, name: str, step: JSON, attempt: JSON, *, last: bool) -> None:
        number, status = int(attempt.get("number") or 0), str(attempt.get("status"))
        if status not in _ENDED and status != "running":
            return
        if status in _ENDED:
            self.shown.add((name, number, "running"))  # ended between two polls: its start is not news
        key = (name, number, status)
        if key in self.shown:
            return
        self.shown.add(key)
        line = Text.assemble("  ", status_text(status), "  ", (name, "bold"), f"  attempt {number}")
        if status == "succeeded":
            took = duration_ms(attempt) if attempt.get("started_at") else duration_ms(step)
            line.append(f"  {format_duration(took)}", style="dim")
        elif status in ("failed", "lost"):
            line.append(f": {format_error(attempt.get('error'))}" if attempt.get("error") else "")
            line.append(self._next(step) if last else "; retrying", style="dim")
        self.console.print(line)

    @staticmethod
    def _next(step: JSON) -> str:
        status = step.get("status")
        if status in ("ready", "running", "pending"):
            at = epoch(step.get("next_attempt_at"))
            wait = f" in {format_duration(max(0.0, at - time.time()) * 1000)}" if at is not None else ""
            return f"; retrying{wait}"
        if status == "failed":
            return "; the step failed"
        return ""
