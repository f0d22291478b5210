"""Resuming the steps an arriving event matches, on SQL: found by their keys (:mod:`.event_wait_keys`),
each ended by the state machine (``EventArrived``), in one transaction."""

from __future__ import annotations

import random
from collections import defaultdict

from ...domain.event_waits import ArrivedEvent, lookup_keys
from ...domain.records import Transition
from ...domain.transitions import Context, EventArrived, Fact
from .event_wait_keys import SHAPES_IN_PROJECT, SHAPES_OF_TYPE, WAITING
from .raw import AnyConnection
from .recovery import _applied
from .transitions import transition


def resume(
    conn: AnyConnection, event: ArrivedEvent, now: float, rng: random.Random, use_outbox: bool
) -> list[Transition]:
    """Resume every step waiting for ``event`` (its project's, or any project's when it names none), in
    one transaction: a transition per step resumed. A step resumes once: one that no longer waits (a
    redelivery, another event first) changes nothing."""
    if event.project is None:
        shapes = conn.execute(SHAPES_OF_TYPE, {"b_type": event.type}).all()
    else:
        shapes = conn.execute(SHAPES_IN_PROJECT, {"b_type": event.type, "b_project": event.project}).all()
    if not shapes:
        return []  # no wait ever used this type: the one lookup an unrelated event costs
    keys = lookup_keys(event, [(row.project, row.shape) for row in shapes])
    if not keys:
        return []
    facts: dict[str, list[Fact]] = defaultdict(list)
    for row in sorted(conn.execute(WAITING, {"b_keys": keys}).all()):
        facts[row.run_id].append(EventArrived(row.name, event))
    if not facts:
        return []
    return _applied(transition(conn, facts, Context(now, None, rng), use_outbox=use_outbox))
