"""The SQLite database thread, with group commit of the hot transitions.

SQLite has one writer, so every transaction runs in one thread on one connection. Raw transitions
(:meth:`Database.run_raw`) that queue up while the thread is busy run together in one ``BEGIN
IMMEDIATE .. COMMIT``, each inside its own ``SAVEPOINT`` (one that raises rolls back alone and its
caller gets the error), and their callers are woken with one call into the event loop. Under load this
amortises the commit (an fsync with ``synchronous=FULL``) and the thread hop (each way) over the
batch; a transition running alone costs what it did. A transition's result is only handed back after
the batch's COMMIT, so nothing is reported that is not durable.

When the caller says it is not busy (``inline_when``: few attempts in flight, e.g. one chain), a hot
transition instead runs right in the event loop on a second connection, if it gets the write lock at
once (``busy_timeout`` 0; else it queues as above). A lone transition then skips the two thread hops
and the GIL hand-offs of each statement (the thread releases the GIL around every statement): a
good part of a chain step's wall time (``docs/performance.md``). Under load the thread stays the
better place: its SQLite work overlaps the event loop's Python, and queued transitions share a commit.

Queued calls of a function registered with :meth:`SqliteThread.merge` (the completions of attempts, one
call per run: ``batches.merged``) that follow each other run as one call, so that many runs share its
statements (one load, one ``executemany`` a table) instead of each running them for itself; if that
call raises, they run again one by one, each in its own savepoint, so one bad call fails alone.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

#: the most transitions one commit covers (bounds the latency a batch adds to its first member)
MAX_BATCH = 64

#: Several calls' arguments as one call's, and how to split that call's result into theirs.
Merge = Callable[[list[tuple[Any, ...]]], tuple[tuple[Any, ...], Callable[[Any], list[Any]]]]


@dataclass
class Job:
    """One transaction to run: ``fn(connection, *args)``, raw (batched) or through SQLAlchemy (alone)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    raw: bool
    future: asyncio.Future[Any]
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


class InlineWatcher(Protocol):
    """Told of each transaction on the inline connection, inside its write lock."""

    def began(self, conn: sqlite3.Connection) -> None: ...

    def committed(self) -> None: ...

    def failed(self) -> None: ...


class SqliteThread:
    """Runs jobs in FIFO order in one thread.

    Args:
        run_sqlalchemy: runs one job's function in its own SQLAlchemy transaction (``fn, args -> result``).
        connect_raw: the raw ``sqlite3`` connection (called once, in the thread).
        wrap: a raw connection -> what raw functions get (a ``RawConnection``).
        connect_inline: a second raw connection, for transitions run in the event loop (None: never);
            it must not wait for locks (``busy_timeout`` 0).
        wrap_inline: what raw functions get of that one (default: ``wrap``'s).
        inline_watcher: told as each transaction on it begins, commits or fails (the run states its
            transitions keep between them: ``state_cache``).
    """

    def __init__(
        self,
        run_sqlalchemy: Callable[[Callable[..., Any], tuple[Any, ...]], Any],
        connect_raw: Callable[[], Any],
        wrap: Callable[[Any], Any],
        connect_inline: Callable[[], sqlite3.Connection] | None = None,
        *,
        wrap_inline: Callable[[Any], Any] | None = None,
        inline_watcher: InlineWatcher | None = None,
    ):
        self._run_sqlalchemy = run_sqlalchemy
        self._connect_raw = connect_raw
        self._wrap = wrap
        self._connect_inline = connect_inline
        self._wrap_inline = wrap_inline or wrap
        self._inline_watcher = inline_watcher
        self._inline: sqlite3.Connection | None = None
        #: whether a raw job may run in the event loop now (set by whoever knows how busy it is)
        self.inline_when: Callable[[], bool] = lambda: False
        #: raw jobs run in the event loop so far (tests, metrics)
        self.inline_runs = 0
        self._merges: dict[Callable[..., Any], Merge] = {}
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name="knflow-sqlite", daemon=True)
        self._thread.start()

    async def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], *, raw: bool) -> Any:
        """Run ``fn`` in the thread (the caller's context goes along: current span, log ids), or a raw
        one right here when ``inline_when()`` and the write lock is free."""
        if raw and self._connect_inline is not None and self.inline_when():
            ran, result = self._try_inline(fn, args)
            if ran:
                return result
        future = asyncio.get_running_loop().create_future()
        self._queue.put(Job(fn, args, raw, future))
        return await future

    def merge(self, fn: Callable[..., Any], how: Merge) -> None:
        """Run raw calls of ``fn`` queued one after another as one call, their arguments merged by ``how``."""
        self._merges[fn] = how

    def _try_inline(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
        """``(True, fn's result)`` once committed, or ``(False, None)`` when another writer holds the lock."""
        if self._inline is None:
            assert self._connect_inline is not None
            self._inline = self._connect_inline()
        conn = self._inline
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode == sqlite3.SQLITE_BUSY:
                return False, None  # the thread (or another process) is writing: queue behind it
            raise
        watcher = self._inline_watcher
        try:
            if watcher is not None:
                watcher.began(conn)
            result = fn(self._wrap_inline(conn), *args)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if watcher is not None:
                watcher.failed()
            raise
        if watcher is not None:
            watcher.committed()
        self.inline_runs += 1
        return True, result

    def close(self) -> None:
        """Finish the queued jobs, then stop the thread."""
        self._queue.put(None)
        self._thread.join()
        if self._inline is not None:
            self._inline.close()

    def _main(self) -> None:
        raw: Any = None
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            if raw is None and any(j.raw for j in batch):
                raw = self._connect_raw()
            self._run_batch(batch, raw)

    def _run_batch(self, batch: list[Job], raw: Any) -> None:
        done: list[tuple[Job, bool, Any]] = []
        group: list[Job] = []
        for job in batch:  # FIFO: a SQLAlchemy job commits the raw ones queued before it first
            if job.raw:
                group.append(job)
                continue
            done += self._commit_group(group, raw)
            group = []
            try:
                done.append((job, True, job.context.run(self._run_sqlalchemy, job.fn, job.args)))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                done.append((job, False, exc))
        done += self._commit_group(group, raw)
        loop = batch[0].future.get_loop()
        loop.call_soon_threadsafe(_resolve, done)

    def _commit_group(self, group: list[Job], raw: Any) -> list[tuple[Job, bool, Any]]:
        if not group:
            return []
        results: list[tuple[Job, bool, Any]] = []
        savepoints = len(group) > 1
        try:
            raw.execute("BEGIN IMMEDIATE")
            conn = self._wrap(raw)
            for unit in self._units(group):
                if len(unit) > 1 and self._run_merged(unit, conn, raw, results):
                    continue
                for job in unit:
                    if savepoints:
                        raw.execute("SAVEPOINT knflow_job")
                    try:
                        results.append((job, True, job.context.run(job.fn, conn, *job.args)))
                    except BaseException as exc:  # noqa: BLE001 - handed to the caller
                        raw.execute("ROLLBACK TO knflow_job" if savepoints else "ROLLBACK")
                        results.append((job, False, exc))
                        if not savepoints:
                            return results
                    if savepoints:
                        raw.execute("RELEASE knflow_job")
            raw.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - the commit failed: no job of the group is durable
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            return [(job, False, exc) for job in group]
        return results

    def _units(self, group: list[Job]) -> list[list[Job]]:
        """The group in order, calls of a merged function that follow each other together."""
        units: list[list[Job]] = []
        for job in group:
            if units and job.fn in self._merges and units[-1][0].fn is job.fn:
                units[-1].append(job)
            else:
                units.append([job])
        return units

    def _run_merged(self, unit: list[Job], conn: Any, raw: Any, results: list[tuple[Job, bool, Any]]) -> bool:
        """Run ``unit``'s calls as one, in a savepoint (in the first caller's context); False if it
        raised (rolled back: the caller runs them one by one)."""
        first = unit[0]
        args, split = self._merges[first.fn]([job.args for job in unit])
        raw.execute("SAVEPOINT knflow_merged")
        try:
            parts = split(first.context.run(first.fn, conn, *args))
        except Exception:  # noqa: BLE001 - each call is run again alone: its own error goes to its caller
            raw.execute("ROLLBACK TO knflow_merged")
            raw.execute("RELEASE knflow_merged")
            return False
        raw.execute("RELEASE knflow_merged")
        results += [(job, True, part) for job, part in zip(unit, parts, strict=True)]
        return True


def _resolve(done: list[tuple[Job, bool, Any]]) -> None:
    for job, ok, value in done:
        if job.future.done():  # the caller was cancelled meanwhile
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
