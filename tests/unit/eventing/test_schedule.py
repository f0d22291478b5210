"""Due cron ticks: skip vs catch_up, bounds, and DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from knflow_eventing import Tick, due_ticks, next_tick

PARIS = ZoneInfo("Europe/Paris")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_nothing_due_before_the_next_tick() -> None:
    assert due_ticks("0 * * * *", "UTC", utc(2025, 1, 1, 10), utc(2025, 1, 1, 10, 59)) == []


def test_one_tick_due_on_time() -> None:
    assert due_ticks("0 * * * *", "UTC", utc(2025, 1, 1, 10), utc(2025, 1, 1, 11, 0, 2)) == [
        Tick(at=utc(2025, 1, 1, 11), skipped=0, late_by=timedelta(seconds=2))
    ]


def test_skip_fires_only_the_latest_and_counts_the_rest() -> None:
    [tick] = due_ticks("*/15 * * * *", "UTC", utc(2025, 1, 1, 10), utc(2025, 1, 1, 12, 5), "skip")
    assert tick.at == utc(2025, 1, 1, 12)
    assert tick.skipped == 7
    assert tick.late_by == timedelta(minutes=5)


def test_catch_up_fires_every_missed_tick_in_order() -> None:
    ticks = due_ticks("*/15 * * * *", "UTC", utc(2025, 1, 1, 10), utc(2025, 1, 1, 11, 1), "catch_up")
    assert [t.at for t in ticks] == [utc(2025, 1, 1, 10, m) for m in (15, 30, 45)] + [utc(2025, 1, 1, 11)]
    assert [t.skipped for t in ticks] == [0, 0, 0, 0]


def test_catch_up_is_bounded_and_says_what_it_dropped() -> None:
    ticks = due_ticks("* * * * *", "UTC", utc(2025, 1, 1), utc(2025, 1, 1, 1), "catch_up", max_catch_up=10)
    assert [t.at for t in ticks] == [utc(2025, 1, 1, 0, m) for m in range(51, 60)] + [utc(2025, 1, 1, 1)]
    assert ticks[0].skipped == 50
    assert all(t.skipped == 0 for t in ticks[1:])


def test_lookback_bounds_the_work() -> None:
    [tick] = due_ticks("* * * * *", "UTC", utc(2020, 1, 1), utc(2025, 1, 1), lookback=timedelta(hours=1))
    assert tick.at == utc(2025, 1, 1)
    assert tick.skipped == 59


def test_spring_forward_gap_is_skipped() -> None:
    # 2025-03-30 Paris: 02:00 -> 03:00; a 02:30 daily tick does not happen that day.
    last = datetime(2025, 3, 29, 2, 30, tzinfo=PARIS)
    now = datetime(2025, 3, 31, 12, 0, tzinfo=PARIS)
    ticks = due_ticks("30 2 * * *", PARIS, last, now, "catch_up")
    assert [t.at.astimezone(PARIS).replace(tzinfo=None) for t in ticks] == [datetime(2025, 3, 31, 2, 30)]


def test_fall_back_repeated_hour_fires_once() -> None:
    # 2025-10-26 Paris: 03:00 -> 02:00; 02:30 happens twice in wall time, fires once.
    last = datetime(2025, 10, 26, 0, 0, tzinfo=PARIS)
    now = utc(2025, 10, 26, 6)
    ticks = due_ticks("30 2 * * *", "Europe/Paris", last, now, "catch_up")
    assert len(ticks) == 1
    assert ticks[0].at.utcoffset() == timedelta(hours=2)


def test_hourly_ticks_across_a_dst_change_are_real_hours() -> None:
    ticks = due_ticks("0 * * * *", PARIS, utc(2025, 3, 29, 23), utc(2025, 3, 30, 3), "catch_up")
    assert [t.at.astimezone(UTC).hour for t in ticks] == [0, 1, 2, 3]


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="aware"):
        due_ticks("* * * * *", "UTC", datetime(2025, 1, 1), utc(2025, 1, 2))
    with pytest.raises(ValueError, match="max_catch_up"):
        due_ticks("* * * * *", "UTC", utc(2025, 1, 1), utc(2025, 1, 2), "catch_up", max_catch_up=0)


def test_next_tick() -> None:
    assert next_tick("0 9 * * mon", "UTC", utc(2025, 1, 1)) == utc(2025, 1, 6, 9)
