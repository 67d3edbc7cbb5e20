"""The project's working calendar: which local dates are working days, and the hours.

Country holidays and make-up working days (China's 调休, e.g. Saturday 2026-10-10) come from the
`holidays` package, which records make-up days as `weekend_workdays`. The config's own lists win
over the country's, so a team can always correct the calendar by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any

import holidays as holidays_lib

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# A calendar with no working day for this long is broken config, not a real calendar.
_MAX_SCAN_DAYS = 3 * 366


class WorkCalendar:
    """Working days and hours of one project, in its own timezone."""

    def __init__(
        self,
        tz: tzinfo,
        workdays: Iterable[str] = WEEKDAY_NAMES[:5],
        *,
        country: str | None = None,
        holidays: Iterable[date] = (),
        workday_overrides: Iterable[date] = (),
        hours: tuple[time, time] = (time(9), time(18)),
    ) -> None:
        self.tz = tz
        self.workdays = frozenset(WEEKDAY_NAMES.index(d) for d in workdays)
        self.country = country
        self.holidays = frozenset(holidays)
        self.workday_overrides = frozenset(workday_overrides)
        self.hours = hours

    def is_working_day(self, day: date) -> bool:
        """Config lists first, then the country's make-up days and holidays, then the weekday."""
        if day in self.holidays:
            return False
        if day in self.workday_overrides:
            return True
        if self.country:
            official = _country_calendar(self.country)
            if day in official:  # also loads that year, filling weekend_workdays
                return False
            if day in official.weekend_workdays:
                return True
        return day.weekday() in self.workdays

    def add_working_days(self, day: date, count: int) -> date:
        """The date `count` working days after `day`, counting only days after it."""
        current, left = day, count
        for _ in range(_MAX_SCAN_DAYS * max(1, count)):
            if left <= 0:
                return current
            current += timedelta(days=1)
            if self.is_working_day(current):
                left -= 1
        raise ValueError("the calendar has no working days")

    def last_working_days(self, day: date, count: int) -> list[date]:
        """The last `count` working days on or before `day`, oldest first."""
        found: list[date] = []
        current = day
        for _ in range(_MAX_SCAN_DAYS * max(1, count)):
            if len(found) >= count:
                break
            if self.is_working_day(current):
                found.append(current)
            current -= timedelta(days=1)
        else:
            raise ValueError("the calendar has no working days")
        return list(reversed(found))

    def working_days_after(self, start: date, end: date) -> int:
        """Working days in (start, end]: how late `end` is against a due date `start`."""
        return sum(
            1
            for offset in range(1, (end - start).days + 1)
            if self.is_working_day(start + timedelta(days=offset))
        )

    def local_date(self, moment: datetime | date) -> date:
        """The project-local date of a source timestamp (a bare date is already local)."""
        if isinstance(moment, datetime):
            if moment.tzinfo is None:
                return moment.date()
            return moment.astimezone(self.tz).date()
        return moment

    def in_working_hours(self, moment: datetime) -> bool:
        """True inside the client's hours on a working day (quiet hours outside)."""
        local = moment.astimezone(self.tz)
        start, end = self.hours
        return self.is_working_day(local.date()) and start <= local.time() < end

    def next_window_start(self, moment: datetime) -> datetime:
        """The start of the next working window at or after `moment` (for deferred sends)."""
        local = moment.astimezone(self.tz)
        if self.in_working_hours(local):
            return local
        start = self.hours[0]
        day = local.date()
        if self.is_working_day(day) and local.time() < start:
            return datetime.combine(day, start, tzinfo=self.tz)
        day = self.add_working_days(day, 1)
        return datetime.combine(day, start, tzinfo=self.tz)


@lru_cache(maxsize=32)
def _country_calendar(country: str) -> Any:
    """One lazily-expanding holiday table per country, shared across projects."""
    return holidays_lib.country_holidays(country)


def parse_as_of(text: str, default_tz: tzinfo) -> datetime:
    """ISO 8601 moment; without an offset it is read in the top-level timezone."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--as-of: not an ISO 8601 date or time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=default_tz)
    return moment
