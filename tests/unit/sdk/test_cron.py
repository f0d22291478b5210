"""Cron expressions in a time zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from knflow import SpecError
from knflow._cron import CronExpression, zone


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_every_five_minutes() -> None:
    cron = CronExpression.parse("*/5 * * * *")
    assert cron.next_after(at("2026-01-01T10:02:30+00:00"), zone("UTC")) == at("2026-01-01T10:05:00+00:00")


def test_seconds_field_and_weekday_names() -> None:
    assert CronExpression.parse("* * * * * *").next_after(at("2026-01-01T10:00:00+00:00"), zone("UTC")) == at(
        "2026-01-01T10:00:01+00:00"
    )
    weekdays = CronExpression.parse("0 9 * * mon-fri")
    # 2026-01-03 is a Saturday: the next weekday 09:00 is Monday the 5th.
    assert weekdays.next_after(at("2026-01-02T10:00:00+00:00"), zone("UTC")) == at("2026-01-05T09:00:00+00:00")


def test_time_zone_and_dst_gap() -> None:
    paris = zone("Europe/Paris")
    daily = CronExpression.parse("30 2 * * *")
    # 2026-03-29 02:30 does not exist in Paris (clocks jump 02:00 -> 03:00): that day is skipped.
    fire = daily.next_after(datetime(2026, 3, 28, 12, tzinfo=UTC), paris)
    assert fire.astimezone(UTC) == datetime(2026, 3, 30, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize("text", ["* * *", "60 * * * *", "* 24 * * *", "*/0 * * * *", "5-1 * * * *", "x * * * *"])
def test_invalid_expressions(text: str) -> None:
    with pytest.raises(SpecError):
        CronExpression.parse(text)
