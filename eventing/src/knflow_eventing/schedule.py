"""Which cron ticks are due, and what a missed-tick policy does with them. Pure functions.

The control plane calls :func:`due_ticks` while it holds the schedule's lease (one writer across
replicas), fires the ticks returned, and stores the last one's ``at`` as the schedule's cursor.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from knflow._cron import CronExpression, zone

MissedPolicy = Literal["skip", "catch_up"]
DEFAULT_MAX_CATCH_UP = 100
# Ticks older than this are not enumerated (a per-second cron down for a year would be 31M of them).
DEFAULT_LOOKBACK = timedelta(days=31)


@dataclass(frozen=True)
class Tick:
    """A tick to fire.

    Attributes:
        at: when it was scheduled, aware, in the schedule's time zone.
        skipped: due ticks before this one (and after the previous fired one) that will not fire,
            counted within the lookback window.
        late_by: how long after ``at`` it is being fired.
    """

    at: datetime
    skipped: int
    late_by: timedelta


def due_ticks(
    cron: CronExpression | str,
    tz: ZoneInfo | str,
    last_tick: datetime,
    now: datetime,
    missed_policy: MissedPolicy = "skip",
    *,
    max_catch_up: int = DEFAULT_MAX_CATCH_UP,
    lookback: timedelta = DEFAULT_LOOKBACK,
) -> list[Tick]:
    """The ticks to fire now: those in ``(last_tick, now]``, after the missed-tick policy.

    Args:
        cron: the expression (parsed or text).
        tz: the schedule's time zone (wall-clock fields are read in it; DST gaps are skipped and
            repeated hours fire once).
        last_tick: the last tick fired, or when the schedule was deployed (aware).
        now: the current time (aware).
        missed_policy: ``skip`` fires only the latest due tick, counting the others as skipped;
            ``catch_up`` fires every due tick, oldest first, keeping the latest ``max_catch_up``.
        max_catch_up: the most ticks ``catch_up`` fires in one call.
        lookback: how far back before ``now`` due ticks are enumerated.

    Raises:
        SpecError: the expression or the zone is invalid.
        ValueError: a naive datetime, or ``max_catch_up`` below 1.
    """
    if last_tick.tzinfo is None or now.tzinfo is None:
        raise ValueError("last_tick and now must be timezone aware")
    if max_catch_up < 1:
        raise ValueError("max_catch_up must be at least 1")
    expression = CronExpression.parse(cron) if isinstance(cron, str) else cron
    zone_info = zone(tz) if isinstance(tz, str) else tz
    start = max(last_tick, now - lookback)
    keep = 1 if missed_policy == "skip" else max_catch_up
    kept: deque[datetime] = deque(maxlen=keep)
    total = 0
    moment = start
    while True:
        moment = expression.next_after(moment, zone_info)
        if moment > now:
            break
        kept.append(moment)
        total += 1
    if not kept:
        return []
    dropped = total - len(kept)
    return [Tick(at=at, skipped=dropped if index == 0 else 0, late_by=now - at) for index, at in enumerate(kept)]


def next_tick(cron: CronExpression | str, tz: ZoneInfo | str, after: datetime) -> datetime:
    """The first tick strictly after ``after`` (to sleep until it).

    Raises:
        SpecError: the expression or the zone is invalid.
        ValueError: the expression never fires.
    """
    expression = CronExpression.parse(cron) if isinstance(cron, str) else cron
    return expression.next_after(after, zone(tz) if isinstance(tz, str) else tz)
