"""Dispatching throttled steps: a step of an action with a ``max_concurrency`` starts only here, holding
the action's lock (an advisory lock on Postgres, so replicas never run more than the limit), while fewer
than the limit of the action's steps run, oldest first across runs (``domain/throttles.py`` decides).

The orchestrator's poll calls it every interval, and at once after a throttled step was held or one of
the action's attempts ended on this replica. Its grants go through ``apply_facts`` as every transition
(the runs' rows ``SKIP LOCKED``: a run another transaction holds is passed over until the next look).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from ..domain.throttles import grants
from ..domain.transitions import Context, Fact, Plan, StepsGranted
from ..ports.store import RunStates

#: ``apply_facts``, passed in (as ``run_queues`` takes it)
Apply = Callable[..., dict[str, Plan | None]]
#: the most throttled steps read for one action per look
DISPATCH_AT_ONCE = 1000


def dispatch(states: RunStates, actions: Sequence[tuple[str, str]], context: Context, apply: Apply) -> list[Plan]:
    """Start the throttled steps of ``actions`` (project, action) that have room, within the worker's room;
    the plans of the runs that started some."""
    worker = context.worker
    if worker is None:
        return []
    room, made = worker.capacity, []
    for project, action in actions:
        if room <= 0:
            break
        running, waiting = states.throttle_of(project, action, DISPATCH_AT_ONCE)
        granted = grants(running, waiting)[:room]
        by_run: dict[str, list[str]] = {}
        for throttled in granted:
            by_run.setdefault(throttled.run_id, []).append(throttled.step)
        if not by_run:
            continue
        facts: dict[str, list[Fact]] = {run_id: [StepsGranted(tuple(names))] for run_id, names in by_run.items()}
        own = replace(context, worker=replace(worker, capacity=room))
        plans = [done for done in apply(states, facts, own, skip_locked=True, share_room=True).values() if done]
        room -= sum(len(done.claims) for done in plans)
        made += plans
    return made
