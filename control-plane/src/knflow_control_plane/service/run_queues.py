"""Starting queued runs: after a transaction changed a concurrency key's queue (a run of the key ended,
or one entered the queue), the runs at its head start while the key has room, in the same transaction.

The rules are ``domain/concurrency.py``'s; this drives them over the :class:`~..ports.store.RunStates`
port: lock the key (``queue_of``: an advisory lock on Postgres, so replicas admit one at a time per key),
read who runs and who waits, and apply :class:`~..domain.transitions.RunAdmitted` to those that start,
through the same ``apply_facts`` as every transition (their rows locked, skipping any another
transaction holds: a run being cancelled; the poll's :func:`admit_waiting` catches up later).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from ..domain.concurrency import ADMIT_AT_ONCE, QueueChanges, admissions
from ..domain.transitions import Context, Fact, Plan, RunAdmitted
from ..ports.store import RunStates

#: ``apply_facts``, passed in (it calls this module: no import cycle)
Apply = Callable[..., dict[str, Plan | None]]
_ADMITTED: list[Fact] = [RunAdmitted()]


def admit_queued(
    states: RunStates, changes: QueueChanges, context: Context, used: int, apply: Apply
) -> dict[str, list[Plan]]:
    """Start the queued runs that have room now, for each key ``changes`` names; the admissions' plans by
    the run that caused them (its transition carries their claims and events). ``used``: the claims the
    transaction made already (the context's worker has that much less room)."""
    if changes.requeued:
        states.requeue(changes.requeued, context.now)
    room = context.worker.capacity - used if context.worker is not None else 0
    carried: dict[str, list[Plan]] = {}
    for key, cause in sorted(changes.keys.items()):
        running, queue = states.queue_of(key, ADMIT_AT_ONCE)
        start = admissions(running, queue)
        if not start:
            continue
        own = context
        if context.worker is not None:
            own = replace(context, worker=replace(context.worker, capacity=max(0, room)))
        plans = apply(states, dict.fromkeys(start, _ADMITTED), own, skip_locked=True, share_room=True)
        made = [done for done in plans.values() if done is not None and done.run is not None]
        states.admitted([done.run_id for done in made], context.now)
        room -= sum(len(done.claims) for done in made)
        carried.setdefault(cause, []).extend(made)
    return carried


def admit_waiting(states: RunStates, keys: Sequence[str], context: Context, apply: Apply) -> list[Plan]:
    """The poll's catch-up: start what has room in ``keys`` (keys with queued runs), in case an admission
    skipped a run another transaction held, or a crash came between. The admissions' plans."""
    changes = QueueChanges(dict.fromkeys(keys, ""), [])
    return [done for made in admit_queued(states, changes, context, 0, apply).values() for done in made]
