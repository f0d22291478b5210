"""Per-invocation log capture: ``print`` (stdout, stderr) and ``logging``, routed by a contextvar.

``sys.stdout`` and ``sys.stderr`` are replaced once by routers that look up the current invocation's
buffer in a contextvar, and a handler on the root logger does the same. A contextvar follows an
invocation into its asyncio task and, because the runtime copies the context, into the worker thread
of a sync action; so concurrent invocations never mix their logs, whether they interleave as threads
or as coroutines. Text written outside any invocation (the runtime's own lines, threads a user starts
without copying the context) goes to the real stream. Writes straight to file descriptor 1 or 2 (C
extensions, subprocesses) are not seen: only Python-level writes are.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TextIO

_current: ContextVar[LogBuffer | None] = ContextVar("knflow_runtime_logs", default=None)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogBuffer:
    """The logs of one invocation, capped at ``limit`` characters.

    Thread-safe: an async action may hand work to threads (``asyncio.to_thread``) that write to the
    same buffer as its coroutine.
    """

    __slots__ = ("_chunks", "_dropped", "_limit", "_lock", "_size", "listener")

    def __init__(self, limit: int):
        self._chunks: list[str] = []
        self._size = 0
        self._dropped = 0
        self._limit = limit
        self._lock = threading.Lock()
        #: called after each write that kept something (live output); None when nobody listens
        self.listener: Callable[[], None] | None = None

    def write(self, text: str) -> None:
        """Keep ``text``, or as much of it as fits under the cap."""
        with self._lock:
            room = self._limit - self._size
            if len(text) > room:
                self._dropped += len(text) - max(room, 0)
                text = text[: max(room, 0)]
            if text:
                self._chunks.append(text)
                self._size += len(text)
        listener = self.listener
        if text and listener is not None:
            listener()

    @property
    def size(self) -> int:
        """Characters kept so far."""
        return self._size

    def text_since(self, offset: int) -> str:
        """The text kept after its first ``offset`` characters."""
        with self._lock:
            joined = "".join(self._chunks)
            self._chunks = [joined] if joined else []  # joined once: the next call slices it
        return joined[offset:]

    def text(self) -> str:
        """Everything kept so far, with a marker when something was cut."""
        with self._lock:
            joined = "".join(self._chunks)
            dropped = self._dropped
        if dropped:
            joined += f"\n[knflow: logs truncated at {self._limit} characters, {dropped} more dropped]\n"
        return joined


@contextmanager
def capturing(limit: int) -> Iterator[LogBuffer]:
    """Route this context's output (and contexts copied from it) to a new buffer while inside."""
    buffer = LogBuffer(limit)
    token = _current.set(buffer)
    try:
        yield buffer
    finally:
        _current.reset(token)


class _Router(io.TextIOBase):
    """Stands in for ``sys.stdout``/``sys.stderr``: the current invocation's buffer, else the real stream."""

    def __init__(self, real: TextIO):
        super().__init__()
        self.real = real

    def write(self, text: str) -> int:
        buffer = _current.get()
        if buffer is None:
            return self.real.write(text)
        if not isinstance(text, str):  # as a real text stream would; bytes in the buffer would break text()
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        buffer.write(text)
        return len(text)

    def flush(self) -> None:
        if _current.get() is None:
            self.real.flush()

    def fileno(self) -> int:
        return self.real.fileno()

    def isatty(self) -> bool:
        return self.real.isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]  # the real stream's, as print() and logging expect
        return self.real.encoding

    @property
    def buffer(self) -> io.BufferedIOBase:
        """The real stream's bytes layer: bytes written there are not captured."""
        return self.real.buffer  # type: ignore[return-value]


class _Handler(logging.Handler):
    """Formats records into the current invocation's buffer, else to the real stderr."""

    def __init__(self, real_stderr: TextIO):
        super().__init__()
        self.real_stderr = real_stderr

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            buffer = _current.get()
            if buffer is None:
                self.real_stderr.write(line)
            else:
                buffer.write(line)
        except Exception:  # noqa: BLE001  (logging must never raise into the caller; handleError reports it)
            self.handleError(record)


class Capture:
    """Installed routers; :meth:`uninstall` puts the real streams back (tests do).

    Attributes:
        stdout: the real standard output.
        stderr: the real standard error, where the runtime writes its own lines.
    """

    def __init__(self, level: str):
        self.stdout, self.stderr = sys.stdout, sys.stderr
        self._handler = _Handler(self.stderr)
        self._handler.setFormatter(logging.Formatter(LOG_FORMAT))
        self._root_level = logging.getLogger().level
        sys.stdout, sys.stderr = _Router(self.stdout), _Router(self.stderr)
        root = logging.getLogger()
        root.addHandler(self._handler)
        root.setLevel(level)

    def uninstall(self) -> None:
        """Restore the streams and the root logger as they were."""
        sys.stdout, sys.stderr = self.stdout, self.stderr
        root = logging.getLogger()
        root.removeHandler(self._handler)
        root.setLevel(self._root_level)


def install(level: str = "INFO") -> Capture:
    """Route ``print`` and ``logging`` through the per-invocation buffers, before the action is imported.

    Installing first matters: a module that keeps a reference to ``sys.stderr`` at import time (a
    ``logging.StreamHandler()``) then holds the router rather than the real stream.

    Args:
        level: the root logger's level while serving (``INFO``: a step's info lines are its logs).

    Raises:
        ValueError: when ``level`` is not a logging level name.
    """
    return Capture(level)
