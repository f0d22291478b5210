"""Cron expressions in a time zone: 5 fields (minute first) or 6 (seconds first), Vixie semantics.

Supports ``*``, ``a-b``, ``*/n``, ``a-b/n``, lists, month and weekday names, and the ``@hourly``,
``@daily``, ``@weekly``, ``@monthly``, ``@yearly`` macros. When both day-of-month and day-of-week are
restricted, a day matching either fires (as in Vixie cron).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ._errors import SpecError

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTHS = {
    m: i + 1 for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"])
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# (name, low, high, aliases)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 7, _DAYS),
)
_MAX_YEARS_AHEAD = 5
_UTC = ZoneInfo("UTC")


def zone(name: str) -> ZoneInfo:
    """The time zone called ``name``.

    Raises:
        SpecError: when there is no such zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SpecError(f"unknown time zone {name!r}", path="timezone") from exc


def _number(token: str, low: int, high: int, aliases: dict[str, int], name: str) -> int:
    value = aliases.get(token.lower()) if not token.isdigit() else int(token)
    if value is None or not low <= value <= high:
        raise SpecError(f"{name} value {token!r} is not within {low}-{high}", path="cron")
    return value


def _parse_field(text: str, low: int, high: int, aliases: dict[str, int], name: str) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise SpecError(f"{name} step {step_text!r} must be a positive integer", path="cron")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _number(first, low, high, aliases, name), _number(last, low, high, aliases, name)
            if start > end:
                raise SpecError(f"{name} range {base!r} runs backwards", path="cron")
        else:
            start = _number(base, low, high, aliases, name)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronExpression:
    """A parsed cron expression; :meth:`next_after` finds fire times."""

    text: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    day_restricted: bool
    weekday_restricted: bool

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """Parse ``text``.

        Raises:
            SpecError: naming the field that is wrong.
        """
        if not isinstance(text, str):
            raise SpecError(f"a cron expression must be a string, got {type(text).__name__}", path="cron")
        expanded = _MACROS.get(text.strip().lower(), text)
        parts = expanded.split()
        if len(parts) == 5:
            parts = ["0", *parts]
        if len(parts) != 6:
            raise SpecError(f"expected 5 or 6 fields, got {len(parts)} in {text!r}", path="cron")
        fields = [_parse_field(part, lo, hi, al, nm) for part, (nm, lo, hi, al) in zip(parts, _FIELDS, strict=True)]
        weekdays = frozenset(d % 7 for d in fields[5])  # 7 is Sunday too
        return cls(
            text,
            fields[0],
            fields[1],
            fields[2],
            fields[3],
            fields[4],
            weekdays,
            day_restricted=parts[3] != "*",
            weekday_restricted=parts[5] != "*",
        )

    def _day_matches(self, day: datetime) -> bool:
        dom = day.day in self.days
        dow = (day.weekday() + 1) % 7 in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return dom or dow
        return dom and dow

    def next_after(self, moment: datetime, tz: ZoneInfo) -> datetime:
        """The first fire time strictly after ``moment`` (aware), as an aware datetime in ``tz``.

        Local times that do not exist (a DST gap) are skipped; ambiguous ones fire once, at the
        first occurrence.

        Raises:
            ValueError: when the expression never fires in the next years (e.g. ``0 0 31 2 *``).
        """
        local = moment.astimezone(tz)
        day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
        horizon = day + timedelta(days=366 * _MAX_YEARS_AHEAD)
        while day < horizon:
            if day.month in self.months and self._day_matches(day):
                found = self._first_in_day(day, moment, tz)
                if found is not None:
                    return found
            day += timedelta(days=1)
        raise ValueError(f"cron {self.text!r} does not fire within {_MAX_YEARS_AHEAD} years")

    def _first_in_day(self, day: datetime, moment: datetime, tz: ZoneInfo) -> datetime | None:
        local = moment.astimezone(tz)
        same_day = local.date() == day.date()
        for hour in sorted(self.hours):
            if same_day and hour < local.hour:
                continue  # earlier hours of today are already past
            for minute in sorted(self.minutes):
                if same_day and hour == local.hour and minute < local.minute:
                    continue
                for second in sorted(self.seconds):
                    candidate = day.replace(hour=hour, minute=minute, second=second, tzinfo=tz, fold=0)
                    round_trip = candidate.astimezone(_UTC).astimezone(tz)
                    if round_trip.replace(tzinfo=None) != candidate.replace(tzinfo=None):
                        continue  # inside a DST gap: that wall time never happens
                    if candidate > moment:
                        return candidate
        return None
