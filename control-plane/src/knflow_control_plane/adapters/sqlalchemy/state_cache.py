"""Run states kept between transitions on SQLite's inline connection: a run's next transition plans from
the state its last one left, instead of reading it back.

SQLite has one writer. A transition on the event loop's connection (``sqlite_thread``'s inline path)
writes exactly what its plan says, so the state a plan leaves (:func:`~...domain.transitions.state_after`)
is what the run's next transition would read, as long as nothing else wrote in between. The cache keeps
those states and trusts them only while that is certain, checked inside the write lock as each
transaction begins:

- no other connection committed since the last transaction it followed (``PRAGMA data_version``: the
  database thread's connection, another process);
- this connection changed no row since then outside the writes it followed: ``total_changes`` counts every
  row changed; the rows changed inside :meth:`RunStateCache.following` (a plan's writes, a new run's
  inserts) must be all of them, else an unknown write (a lease renewed, a queued run admitted) may have
  touched a kept run.

Failing either, it forgets every state. It keeps only complete states (every step: a new run's, or one
read whole) of running runs without map steps, of at most ``steps`` steps; a plan that ends its run,
starts a map or registers an event wait drops it. What a cache hit saves is in ``docs/performance.md``.

``KNFLOW_CHECK_STATE_CACHE=FILE`` (the test suite sets it) reads every state served from the cache back
from the database too: where the two differ (:func:`differences`), the difference is appended to FILE and
the transition fails. The file lets a test see it in a control plane it started as a process, where a
failed transition is only retried.
"""

from __future__ import annotations

import os
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from ...domain.model import StepStatus
from ...domain.transitions import Plan, RunState, state_after

#: Runs kept (least recently written dropped first) and the most steps a kept run may have: a big fan-out
#: is read in parts cheaper than its whole state is copied into each of its plans.
RUNS, STEPS = 1024, 64


class RunStateCache:
    """The states the inline connection's last transitions left, while no other write could have changed them."""

    def __init__(self, *, runs: int = RUNS, steps: int = STEPS):
        self.runs, self.steps = runs, steps
        #: Where the differences go when each state served is checked against the database (tests:
        #: ``KNFLOW_CHECK_STATE_CACHE``); None: not checked.
        where = os.environ.get("KNFLOW_CHECK_STATE_CACHE")
        self.check = Path(where) if where else None
        #: States served so far (tests).
        self.served = 0
        self._states: OrderedDict[str, RunState] = OrderedDict()
        #: What the transaction under way leaves of each run it wrote (None: not kept), kept on its commit.
        self._staged: dict[str, RunState | None] = {}
        #: (data_version, total_changes) after the last commit it followed whole; None: trust nothing.
        self._seen: tuple[int, int] | None = None
        self._conn: sqlite3.Connection | None = None
        self._version = self._changes_at_begin = self._followed = 0
        #: False once writes it followed raised part way (and the transaction may commit all the same).
        self._whole = True

    # -- the transaction (``sqlite_thread``'s inline path), inside the write lock ------------------
    def began(self, conn: sqlite3.Connection) -> None:
        """A transaction began on ``conn``: forget everything if anyone else wrote since."""
        version = conn.execute("PRAGMA data_version").fetchone()[0]
        changes = conn.total_changes
        if self._seen != (version, changes):
            self._states.clear()
        self._conn, self._version, self._changes_at_begin, self._followed = conn, version, changes, 0
        self._whole = True
        self._staged.clear()

    def committed(self) -> None:
        """The transaction committed: keep what it staged, if it changed nothing it did not follow."""
        assert self._conn is not None
        changes = self._conn.total_changes
        if not self._whole or changes - self._changes_at_begin != self._followed:
            self._states.clear()
            self._seen = None
        else:
            for run_id, state in self._staged.items():
                if state is None:
                    self._states.pop(run_id, None)
                else:
                    self._states[run_id] = state
                    self._states.move_to_end(run_id)
            while len(self._states) > self.runs:
                self._states.popitem(last=False)
            self._seen = (self._version, changes)
        self._staged.clear()

    def failed(self) -> None:
        """The transaction rolled back: nothing it staged happened."""
        self._staged.clear()
        self._seen = None

    # -- the transitions ---------------------------------------------------------------------------
    def get(self, run_id: str) -> RunState | None:
        """The run's state as its last transition left it (this one's, if it wrote the run already)."""
        state = self._staged[run_id] if run_id in self._staged else self._states.get(run_id)
        if state is not None:
            self.served += 1
        return state

    @contextmanager
    def following(self) -> Iterator[None]:
        """Writes whose every row change the caller stages (:meth:`keep`) or that touch no kept run."""
        assert self._conn is not None
        before = self._conn.total_changes
        try:
            yield
        except BaseException:
            self._whole = False  # some of the rows written, none staged: trust nothing after this commit
            raise
        finally:
            self._followed += self._conn.total_changes - before

    def keep(self, run_id: str, state: RunState | None, done: Plan | None = None) -> None:
        """Stage what ``done`` leaves of ``state`` (the state it was planned from; without ``done``, ``state``
        itself), if that is kept; else the run is dropped. Decided before the state after is made: most
        transitions a busy plane runs inline are of runs read in part, never kept."""
        if state is None or not self._keepable(state, done):
            self._staged[run_id] = None
        else:
            self._staged[run_id] = state_after(state, done) if done is not None else state

    def _keepable(self, state: RunState, done: Plan | None) -> bool:
        status = done.run_status if done is not None else state.status
        return (
            state.complete
            and not status.finished
            and not state.maps
            and len(state.steps) <= self.steps
            and (done is None or not (done.maps or done.waits))
        )


def report(check: Path, run_id: str, found: list[str]) -> NoReturn:
    """Append the differences of a state served from the cache to ``check``, and fail the transition."""
    message = f"run {run_id}: the state cache differs from the database: {'; '.join(found)}"
    with check.open("a", encoding="utf-8") as out:
        out.write(message + "\n")
    raise AssertionError(message)


def differences(cached: RunState, stored: RunState, outputs: Mapping[str, Any]) -> list[str]:
    """Where a state served from the cache differs from the one read whole from the database, with the
    stored ``outputs`` of the steps whose outputs it holds (none: it matches)."""
    found = [
        f"run.{name}: {getattr(cached, name)!r} != {getattr(stored, name)!r}"
        for name in ("status", "remaining", "inputs", "result_binding", "trace_id", "project", "concurrency_key")
        if getattr(cached, name) != getattr(stored, name)
    ]
    if set(cached.steps) != set(stored.steps):
        found.append(f"steps: {sorted(cached.steps)} != {sorted(stored.steps)}")
    for name in set(cached.steps) & set(stored.steps):
        if cached.steps[name] != stored.steps[name]:
            found.append(f"steps.{name}: {cached.steps[name]!r} != {stored.steps[name]!r}")
    for name, value in cached.outputs.items():
        step = stored.steps.get(name)
        if step is None or step.status is not StepStatus.SUCCEEDED or outputs.get(name) != value:
            found.append(f"outputs.{name}: {value!r} != {outputs.get(name)!r}")
    return found
