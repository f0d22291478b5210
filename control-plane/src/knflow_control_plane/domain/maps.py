"""The rules of map steps (``knflow.dev/v2``), as the planner applies them. No I/O.

A map step binds its inputs when it would start, like any step; then its mapped inputs (equal-length
lists) become items, written in bulk (:class:`~.map_state.MapChange`), and the step runs (``running``,
holding no worker) while its items do. The planner launches items from the counts: at most
``max_parallel`` running, within the worker's room; the rest wait ``pending`` in index order. Each item
retries as the action's policy says, under its own name ``step[index]``. When none is pending or running,
the step succeeds with ``{"result": [...]}``, its items' results in input order (``on_error="collect"``:
an ``{"error", "index"}`` record in place of each failed one); with ``on_error="fail"`` the first item
that fails for good fails the step and its run: items in flight finish, pending ones are skipped.

A map step that cannot launch what its counts allow (the worker is full, or the next items wait for their
retry's backoff) is ``ready`` again, so that the next poll (:class:`~.transitions.StepsDue`) resumes it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from knflow.bindings import BindingError

from . import events as ev
from .map_bookkeeping import MapBookkeeping, NeedMore, element
from .map_state import Item, MapNeed, MapState, item_name, parse_item
from .map_views import is_map
from .model import AttemptStatus, Outcome, RunStatus, StepCounters, StepStatus, decide_after_failure
from .records import Claim
from .transitions import Need, Step, attempt_id

S = StepStatus
#: attempt numbers an item has in one round of its map (a round: the map started afresh)
ROUND_ATTEMPTS = 1000
_IN_PROGRESS = (S.RUNNING, S.READY)

# ``NeedMore`` and ``element`` live with the bookkeeping; the planner reads them here, with ``MapDraft``.
__all__ = ["ROUND_ATTEMPTS", "MapDraft", "NeedMore", "element"]


class MapDraft(MapBookkeeping):
    """The map steps' part of a plan being made (the planner's ``_Draft`` derives from it): the rules of
    starting a map, launching its items, their ends, and the map's end (its bookkeeping: the base)."""

    # -- starting and resuming --------------------------------------------------------------------
    def start_map(self, step: Step, inputs: Any) -> Any:
        """Start a ready map step whose inputs bound: its items written, the first launched (None). The
        error that fails it instead (a mapped input that is not a list, lists of different lengths); what
        ``bind`` answered when the inputs did not bind (the planner handles it as for any step)."""
        if not isinstance(inputs, dict):
            return inputs
        spec = step.wait or {}
        over: list[str] = list(spec.get("over", ()))
        # a step that returned a list whole is bound as ``{"result": [...]}``: its list is mapped
        lists = {
            key: element(inputs.get(key)) if isinstance(inputs.get(key), dict) else inputs.get(key) for key in over
        }
        for key, value in lists.items():
            if not isinstance(value, list):
                kind = type(value).__name__
                return BindingError(
                    f"a mapped input must be a list, got {kind}", path=f"steps.{step.name}.inputs.{key}"
                )
        lengths = {key: len(value) for key, value in lists.items() if isinstance(value, list)}
        if len(set(lengths.values())) > 1:
            told = ", ".join(f"{key}={length}" for key, length in lengths.items())
            return BindingError(f"mapped inputs of different lengths ({told})", path=f"steps.{step.name}.map.over")
        total = next(iter(lengths.values()))
        mapped = [(key, value) for key, value in lists.items() if isinstance(value, list)]
        # A map started afresh (a step upstream of it ran again) numbers its items' attempts past the
        # earlier rounds': their late results are refused, their attempt ids (files, logs) stay apart.
        base = ROUND_ATTEMPTS * step.attempts
        items = tuple(
            Item(i, inputs={key: value[i] for key, value in mapped}, attempts=base, budget_start=base)
            for i in range(total)
        )
        constants = {key: value for key, value in inputs.items() if key not in lists}
        counts = {"pending": total, "running": 0, "succeeded": 0, "failed": 0, "skipped": 0}
        row = MapState(
            step.name, total, int(spec.get("max_parallel", 16)), str(spec.get("on_error")), constants, counts
        )
        self.map_rows[step.name] = row
        self.map_counts[step.name], self.map_items[step.name] = dict(counts), {}
        self.map_changes[step.name] = {"created": row, "new_items": items, "deltas": {}, "items": {}, "bulk": ()}
        self.map_fresh[step.name] = deque(items)
        started = self.move(
            step,
            S.RUNNING,
            attempts=step.attempts + 1,
            started_at=step.started_at if step.started_at is not None else self.now,
            lease_owner=None,
            lease_expires_at=None,
            ready_at=None,
        )
        self.emit(ev.STEP_STARTED, step.name, attempt=started.attempts, items=total)
        self.map_progress(started)
        return None

    def resume_map(self, step: Step) -> bool:
        """A ready map step that started before launches what its counts allow; False when it has not
        started (the planner binds its inputs and starts it)."""
        if self.creating or self._settling(step.name):
            return True  # left ready, since now: the next poll starts it (after the writes before it)
        if step.started_at is None or self.map_of(step.name) is None:
            return False
        running = self.move(step, S.RUNNING, ready_at=None)
        self.map_progress(running)
        return True

    # -- launching --------------------------------------------------------------------------------
    def map_progress(self, step: Step) -> None:
        """After its items moved: end the map when none is pending or running, else launch more."""
        counts = self.map_counts[step.name]
        if counts["pending"] == 0 and counts["running"] == 0:
            self.finish_map(step)
        else:
            self.refill(step)

    def refill(self, step: Step) -> None:
        """Launch pending items, up to ``max_parallel`` running and within the worker's room; a map with
        room left is ready again (now, or when the next item's retry is due) for the next poll."""
        row = self.map_rows[step.name]
        assert row is not None
        counts, worker = self.map_counts[step.name], self.context.worker
        want = min(row.max_parallel - counts["running"], counts["pending"])
        capacity = worker.capacity - len(self.claims) if worker is not None else 0
        take = min(want, max(capacity, 0))
        later: float | None = None
        launched = 0
        for item in self._pending(step.name, take):
            if item.ready_at is not None and item.ready_at > self.now:
                later = item.ready_at if later is None else min(later, item.ready_at)
                continue
            self._launch(step, row, item)
            launched += 1
        current = self.steps[step.name]
        if launched < want and self.status is RunStatus.RUNNING:
            due = self.now if take < want or later is None else later  # the worker was full, or a backoff
            if current.status is S.RUNNING:
                self.move(current, S.READY, ready_at=due)
            else:
                self.update(current, ready_at=due)
        elif current.status is S.READY:
            self.move(current, S.RUNNING, ready_at=None)

    def _pending(self, name: str, take: int) -> list[Item]:
        """The next ``take`` pending items (a fresh map's from memory, else as loaded, in index order)."""
        if take <= 0:
            return []
        fresh = self.map_fresh.get(name)
        if fresh is not None:
            return [fresh.popleft() for _ in range(min(take, len(fresh)))]
        row = self.map_rows[name]
        assert row is not None
        start = self.map_taken.get(name, 0)
        if row.next_asked < start + take:
            raise NeedMore(Need(maps=MapNeed(next=frozenset({(name, start + take)}))))
        # not one this plan moved already (launched, or back from a failure: its backoff is its own)
        chosen = [i for i in row.next[start : start + take] if i.index not in self.map_items[name]]
        self.map_taken[name] = start + take
        return chosen

    def _launch(self, step: Step, row: MapState, item: Item) -> None:
        worker = self.context.worker
        assert worker is not None
        number = item.attempts + 1
        name = item_name(step.name, item.index)
        current = attempt_id(self.state.run_id, name, number)
        started = item.started_at if item.started_at is not None else self.now
        launched = Item(
            item.index,
            "running",
            None,
            number,
            item.budget_start,
            item.infra_failures,
            None,
            worker.name,
            self.now + worker.lease,
            None,
            None,
            None,
            started,
            None,
        )
        self._write(step.name, launched)
        self._count(step.name, pending=-1, running=1)
        self.map_launched.setdefault(step.name, []).append(current)
        inputs = {**row.constants, **(item.inputs or {})}
        deadline = self.now + float(step.policy.timeout)
        run = self.state
        self.claims.append(
            Claim(
                current,
                run.run_id,
                name,
                number,
                step.action,
                step.version,
                inputs,
                deadline,
                run.trace_id,
                run.project,
            )
        )

    # -- items ending -----------------------------------------------------------------------------
    def item_finished(self, name: str, attempt: str, outcome: Outcome) -> bool:
        """Record an item's outcome if it still runs that attempt (else False: nothing changes), then
        launch more, retry it, end the map or fail it."""
        parsed = parse_item(name)
        if parsed is None:
            return False
        map_name, index = parsed
        step = self.steps.get(map_name)
        if step is None and map_name not in self.state.steps:  # (a step of the run: never deleted)
            raise NeedMore(Need(bindings=frozenset({map_name})))
        if step is None or not is_map(step.wait) or self.map_of(map_name, item=index) is None:
            return False
        item = self.item_of(map_name, index)
        if (
            item is None
            or item.status != "running"
            or attempt != attempt_id(self.state.run_id, name, item.attempts)
            or self.status in (RunStatus.SUCCEEDED, RunStatus.CANCELLED)
        ):
            return False
        in_progress = step.status in _IN_PROGRESS and self.status is RunStatus.RUNNING and not self._settling(map_name)
        if outcome.status is AttemptStatus.SUCCEEDED:
            self._end_item(map_name, item, "succeeded", outcome, output=element(outcome.outputs))
        elif not self._retried(step, item, outcome, in_progress):
            self._end_item(map_name, item, "failed", outcome)
            row = self.map_rows[map_name]
            if in_progress and row is not None and row.on_error == "fail":
                self.fail_map(step, index, outcome.error or {})
                return True
        if in_progress:
            self.map_progress(self.steps[map_name])
        elif step.status is S.RUNNING and self.map_counts[map_name]["running"] == 0:
            self.move(step, S.CANCELLED, finished_at=self.now)  # its run ended: nothing more lands
        return True

    def _end_item(self, name: str, item: Item, status: str, outcome: Outcome, output: Any = None) -> None:
        error = None if status == "succeeded" else outcome.error
        ended = Item(
            item.index, status, None, item.attempts, item.budget_start, item.infra_failures, None, None, None,
            output, error, outcome.logs, item.started_at, self.now,
        )  # fmt: skip
        self._write(name, ended)
        self._count(name, running=-1, **{status: 1})

    def _retried(self, step: Step, item: Item, outcome: Outcome, in_progress: bool) -> bool:
        """Whether a failed item runs again (as the action's retries say, while its map runs)."""
        if not in_progress:
            return False
        counters = StepCounters(item.attempts - item.budget_start, item.infra_failures)
        decision = decide_after_failure(outcome, counters, step.policy, self.context.rng)
        if decision.status is not S.READY:
            return False
        infra = item.infra_failures + (1 if decision.infra else 0)
        again = Item(
            item.index, "pending", None, item.attempts, item.budget_start, infra, self.now + decision.retry_in,
            None, None, None, outcome.error, outcome.logs, item.started_at, None,
        )  # fmt: skip
        self._write(step.name, again)
        self._count(step.name, running=-1, pending=1)
        self._requeue(step.name, again)
        return True

    def _requeue(self, name: str, item: Item) -> None:
        fresh = self.map_fresh.get(name)
        if fresh is not None:
            fresh.append(item)  # a map started by this plan launches from memory

    def item_lease_expired(self, name: str, number: int) -> bool:
        """An item whose lease ran out is lost (not if it was renewed or has finished)."""
        parsed = parse_item(name)
        if parsed is None:
            return False
        map_name, index = parsed
        step = self.steps.get(map_name)
        if step is None and map_name not in self.state.steps:  # (a step of the run: never deleted)
            raise NeedMore(Need(bindings=frozenset({map_name})))
        if step is None or not is_map(step.wait) or self.map_of(map_name, item=index) is None:
            return False
        item = self.item_of(map_name, index)
        if item is None or item.status != "running" or item.attempts != number:
            return False
        if item.lease_expires_at is not None and item.lease_expires_at >= self.now:
            return False
        lost = Outcome.lost("lease expired: the worker stopped")
        return self.item_finished(name, attempt_id(self.state.run_id, name, number), lost)

    # -- the map ending ---------------------------------------------------------------------------
    def finish_map(self, step: Step) -> None:
        """Every item ended: the step succeeds with their results joined in input order."""
        row = self.map_rows[step.name]
        assert row is not None
        joined = row.joined
        if joined is None and step.name in self.map_fresh and row.total == 0:
            joined = ()
        if joined is None:
            raise NeedMore(Need(maps=MapNeed(joined=frozenset({step.name}))))
        changed = self.map_items[step.name]
        results = []
        for index, stored in enumerate(joined):
            item = changed.get(index)
            status, output, error = (item.status, item.output, item.error) if item is not None else stored
            results.append(output if status == "succeeded" else {"error": error, "index": index})
        if step.status is S.READY:
            step = self.move(step, S.RUNNING, ready_at=None)
        self.succeeded(step, {"result": results}, claim_next=True)

    def fail_map(self, step: Step, index: int, error: dict[str, Any]) -> None:
        """An item failed for good (``on_error="fail"``): the step fails, and its run; pending items are
        skipped, running ones finish."""
        if step.status is S.READY:
            step = self.move(step, S.RUNNING, ready_at=None)
        message = f"item {index}: {error.get('type') or 'Error'}: {error.get('message')}"
        failed = {**error, "message": message, "item": index}
        self.move(step, S.FAILED, error=failed, finished_at=self.now, ready_at=None)
        self.emit(ev.STEP_FAILED, step.name, error=failed)
        self._bulk(step.name, "skip")
        self.end_run(RunStatus.FAILED, error={"step": step.name, **failed})

    def close_maps(self, cancel: bool) -> None:
        """The run ends without succeeding: no item of a map in progress starts any more (pending ones
        skipped); a cancel also abandons the running ones (their claims withdrawn, late results refused)."""
        for step in self.steps.values():
            if step.wait is None or step.status not in _IN_PROGRESS or not is_map(step.wait):
                continue
            self._bulk(step.name, "cancel" if cancel else "skip")
            if cancel:
                self.withdrawn.update(self.map_launched.get(step.name, ()))

    def abandon_map(self, step: Step) -> None:
        """A map step abandoned with its run (its items: :meth:`close_maps`)."""
        self.move(step, S.CANCELLED, finished_at=self.now, ready_at=None, lease_owner=None, lease_expires_at=None)

    def maps_again(self, redo: list[str], again: set[str]) -> None:
        """A retry of the run runs these steps again: a map step whose upstream runs again starts afresh;
        one that failed runs again only its items that did not succeed."""
        for name in redo:
            step = self.steps[name]
            if step.wait is None or not is_map(step.wait):
                continue
            if any(up in again for up in step.upstream or ()):
                self._bulk(name, "drop")
                self.update(step, started_at=None)
                self.map_rows[name] = None  # late results of its items are refused from now on
            else:
                self._bulk(name, "again")
