"""The run state machine's loop, shared by every run store: lock, load, plan, persist.

Every transition of runs goes through :func:`apply_facts` over the :class:`~..ports.store.RunStates` port
(``adapters/sqlalchemy/transitions.py`` on SQLite and Postgres, ``adapters/memory/runs.py`` in memory):
it locks the runs, loads each one's :class:`RunState`, calls :func:`~..domain.planner.plan`, loads more
while the planner answers :class:`Need`, and has the port persist every plan. It does no I/O of its own
and decides nothing: the planner decides, the port loads and writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..domain.concurrency import carry, queue_changes
from ..domain.map_state import met as maps_met
from ..domain.model import RunStatus
from ..domain.planner import plan
from ..domain.records import Transition, Worker
from ..domain.transitions import Context, Fact, Need, Plan, RunState
from ..ports.store import RunStates
from .run_queues import admit_queued


def apply_facts(
    states: RunStates,
    facts: Mapping[str, Sequence[Fact]],
    context: Context,
    *,
    skip_locked: bool = False,
    share_room: bool = False,
    workers: Mapping[str, Worker | None] | None = None,
) -> dict[str, Plan | None]:
    """Apply each run's facts in one transaction: lock, load, plan (loading more while the planner
    needs it), persist every plan. A plan per run (None: no such run, or locked by another transaction
    when ``skip_locked``). ``share_room``: the runs share the worker's capacity (in the order of their
    ids), instead of each having all of it. ``workers``: who claims for each run named there, instead
    of the context's (completions reported apart and recorded together, each with the room it had)."""
    run_ids = sorted(facts)
    locked = states.lock(run_ids, skip_locked=skip_locked)
    loaded = states.load_for({run_id: facts[run_id] for run_id in locked}, context.now)
    plans: dict[str, Plan | None] = dict.fromkeys(run_ids)
    made = []
    room = context.worker.capacity if context.worker else 0
    for run_id in run_ids:
        state = loaded.get(run_id)
        if state is None:
            continue
        own = context
        if workers is not None and run_id in workers:
            own = Context(context.now, workers[run_id], context.rng)
        elif share_room and context.worker is not None:
            if room <= 0:
                break
            own = replace(context, worker=replace(context.worker, capacity=room))
        done = _plan_fully(states, state, facts[run_id], own)
        room -= len(done.claims)
        plans[run_id] = done
        made.append((done, own))
    if made:
        states.persist(made)
        changes = queue_changes(loaded, (done for done, _ in made))
        if changes is not None:  # a run with a concurrency key ended or queued: start who has room now
            used = sum(len(done.claims) for done, _ in made)
            for cause, admitted in admit_queued(states, changes, context, used, apply_facts).items():
                caused = plans[cause]
                if caused is not None:  # always: the cause is one of the plans made here
                    plans[cause] = carry(caused, admitted)
    return plans


def _plan_fully(states: RunStates, state: RunState, facts: Sequence[Fact], context: Context) -> Plan:
    """Plan, loading what the planner asks for until it has it all (a plan set aside draws its retry
    delays again: jitter, nothing else depends on them). Each round loads more than the last (a skipped
    step's condition may ask for outputs, then for every step...), so this ends; a need already met is
    a bug, raised rather than looped on."""
    while True:
        got = plan(state, facts, context)
        if isinstance(got, Plan):
            return got
        if _met(state, got):
            raise RuntimeError(f"run {state.run_id}: the planner still needs {got}")
        state = states.load_more(state, got, context.now)


def _met(state: RunState, need: Need) -> bool:
    """Whether ``state`` already holds all ``need`` asks for."""
    return (
        need.outputs <= state.looked_up
        and (not need.all_steps or state.complete)
        and (not need.maps or maps_met(state.maps, need.maps))
        and all(name in state.steps and state.steps[name].bindings is not None for name in need.bindings)
    )


def as_transition(run_id: str, done: Plan | None, **extra: Any) -> Transition:
    """The whole plan as one :class:`Transition` (its claims and events)."""
    if done is None:
        return Transition(run_id, RunStatus.FAILED, duplicate=True, **extra)
    duplicate = bool(done.results) and all(r.duplicate for r in done.results)
    return Transition(run_id, done.run_status, list(done.claims), list(done.events), duplicate=duplicate, **extra)
