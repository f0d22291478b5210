"""What the runtime reports about loading its action, in lines a backend can find in the process's output.

A deploy runs ``KNFLOW_CHECK=1 python -m knflow_runtime`` where the action will run (its venv, its code)
and reads one ``knflow-runtime signature: {json}`` line back; an action that cannot be imported (at a
check or at a start) writes its traceback and one ``knflow-runtime load-error: {json}`` line instead.
Both are single JSON lines with a fixed prefix, so that the backend reads them out of a log file that
other output (the user module's prints, another instance's lines) may share.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from typing import Any, TextIO

from knflow import ActionDefinition

SIGNATURE_MARK = "knflow-runtime signature: "
LOAD_ERROR_MARK = "knflow-runtime load-error: "

# Frames of the import machinery and of the runtime itself say nothing about the user's mistake.
_PLUMBING = (os.path.dirname(__file__) + os.sep, os.path.dirname(importlib.__file__) + os.sep, "<frozen ")


def signature_of(action: ActionDefinition[..., Any]) -> dict[str, Any]:
    """The parts of an action's spec that the place it runs decides: its inputs, output and version."""
    spec = action.spec.model_dump(mode="json")
    return {key: spec[key] for key in ("name", "version", "inputs", "output", "var_keyword", "is_async")}


def report_signature(action: ActionDefinition[..., Any], out: TextIO) -> None:
    """Write the signature line of ``action`` to ``out``."""
    out.write(SIGNATURE_MARK + json.dumps(signature_of(action), sort_keys=True) + "\n")
    out.flush()


def report_load_error(error: BaseException, out: TextIO) -> None:
    """Write why the action could not be loaded: the traceback of the user's code, then the marked line.

    Args:
        error: the ``LoadError`` (its cause, when there is one, is the user's exception).
        out: where the process writes its own lines (stderr).
    """
    cause = error.__cause__ or error
    trace = _user_traceback(cause) if cause is not error else ""
    if trace:
        out.write(trace)
    out.write(f"knflow-runtime: {error}\n")
    kind = _type_name(type(cause)) if cause is not error else "LoadError"
    info = {"type": kind, "message": str(error), "traceback": trace or None}
    out.write(LOAD_ERROR_MARK + json.dumps(info) + "\n")
    out.flush()


def _user_traceback(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PLUMBING):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _type_name(cls: type) -> str:
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def find_report(output: str) -> tuple[str, dict[str, Any]] | None:
    """The last report in a process's output: ``("signature" | "load-error", data)``, or None."""
    for line in reversed(output.splitlines()):
        for kind, mark in (("signature", SIGNATURE_MARK), ("load-error", LOAD_ERROR_MARK)):
            if line.startswith(mark):
                try:
                    data = json.loads(line[len(mark) :])
                except ValueError:
                    continue
                if isinstance(data, dict):
                    return kind, data
    return None


def stderr() -> TextIO:
    """The process's real standard error (the runtime's own lines go there, not to a capture)."""
    return sys.__stderr__ or sys.stderr
