"""Structured logs: one JSON object per line on stderr, with the run, step, attempt and trace they are about.

The ids travel in a context variable: the orchestrator binds them around each attempt (each attempt is
its own asyncio task, so a binding never leaks into another), and ``Orchestrator.submit`` binds the
new run's ids for the rest of the request that started it (:func:`scoped` ends them sooner, where one
task starts several runs: the trigger consumer, for an event's workflows).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final, TextIO

_context: ContextVar[dict[str, Any] | None] = ContextVar("knflow_log_context", default=None)

#: The record attributes every ``LogRecord`` has: anything else passed with ``extra=`` is logged too.
_STANDARD: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def bind(**fields: Any) -> None:
    """Add ``fields`` (``run_id``, ``step``, ``attempt``, ``trace_id``...) to the log lines of this context.

    None values are left out. The binding lasts until the current task (or request) ends.
    """
    known = _context.get()
    _context.set({**(known or {}), **{k: v for k, v in fields.items() if v is not None}})


@contextlib.contextmanager
def scoped() -> Iterator[None]:
    """Bindings made inside the block end with it: the runs one event starts bind their ids one after
    another in the same task, and a line logged after them is about the event, not the last run."""
    token = _context.set(_context.get())
    try:
        yield
    finally:
        _context.reset(token)


def bound() -> dict[str, Any]:
    """The fields bound in this context."""
    return dict(_context.get() or {})


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, message, the bound ids, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_context.get() or {})
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class _ContextText(logging.Formatter):
    """The human format, with the bound ids appended in brackets when there are any."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _context.get()
        if fields:
            line += " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]"
        return line


def resolve_format(requested: str | None, stream: TextIO | None = None) -> str:
    """``json`` or ``text``: what ``KNFLOW_LOG_FORMAT`` asks for, else JSON unless stderr is a terminal.

    Raises:
        ValueError: for a format that is neither.
    """
    if requested:
        value = requested.strip().lower()
        if value not in ("json", "text"):
            raise ValueError(f"KNFLOW_LOG_FORMAT must be 'json' or 'text', not {requested!r}")
        return value
    stream = stream or sys.stderr
    return "text" if stream.isatty() else "json"


def configure(log_format: str, level: int = logging.INFO, stream: TextIO | None = None) -> logging.Handler:
    """Send the root logger's records to stderr as JSON lines (``json``) or readable text (``text``).

    Returns:
        The handler installed (replacing any the root logger had).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(_ContextText("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
