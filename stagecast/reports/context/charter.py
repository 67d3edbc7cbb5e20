"""The charter (SPEC §7): the group's purpose and scope, working hours, response time, report
cadence and contacts — what a client should know from day one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from babel import Locale, UnknownLocaleError

from stagecast.calendar import WorkCalendar
from stagecast.config import ProjectConfig
from stagecast.models import Severity
from stagecast.reports.context.common import Audience
from stagecast.reports.escape import one_line

DayRange = tuple[int, int]  # first and last weekday, 0 = Monday


@dataclass(frozen=True)
class Cadence:
    """When a report kind goes out.

    For the daily update: `time` ("17:30") and `days` (weekday ranges; None = every day) read
    from its cron, or only `cron` when the cron is too fancy to put into words. For risk alerts,
    `min_severity` when configured.
    """

    kind: str
    time: str | None = None
    days: tuple[DayRange, ...] | None = None
    weekdays: bool = False
    cron: str | None = None
    min_severity: Severity | None = None


@dataclass(frozen=True)
class ContactLine:
    """A contact from the config's charter: shown to clients (it is not from the sources)."""

    name: str
    role: str | None
    reach: str | None


@dataclass(frozen=True)
class Charter:
    """The group's rules and expectations (SPEC §7); `purpose`, `scope` and `response_time`
    are None when the project has no charter."""

    project_key: str
    project_name: str
    audience: Audience
    language: str
    as_of: datetime | None
    date: date | None
    period: str
    purpose: str | None
    scope: str | None
    response_time: str | None
    workdays: tuple[DayRange, ...]
    hours_start: str
    hours_end: str
    country: str | None
    cadence: tuple[Cadence, ...]
    contacts: tuple[ContactLine, ...]


def charter_context(
    project: ProjectConfig,
    *,
    audience: Audience,
    language: str,
    calendar: WorkCalendar,
) -> Charter:
    """The charter of a project: what a client should know from day one."""
    charter = project.charter
    start, end = calendar.hours
    cadence: list[Cadence] = []
    for kind, rule in project.reports.by_kind().items():
        if kind in ("daily_update", "weekly_update"):
            cadence.append(_scheduled_cadence(kind, rule.cron))
        elif kind in ("stage_report", "project_report", "risk_alert"):
            cadence.append(Cadence(kind, min_severity=rule.min_severity))

    def text(value: str | None) -> str | None:
        return one_line(value) or None if value else None

    return Charter(
        project_key=project.key,
        project_name=one_line(project.name),
        audience=audience,
        language=language,
        as_of=None,
        date=None,
        period="once",
        purpose=text(charter.purpose) if charter else None,
        scope=text(charter.scope) if charter else None,
        response_time=text(charter.response_time) if charter else None,
        workdays=_ranges(sorted(calendar.workdays)),
        hours_start=start.strftime("%H:%M"),
        hours_end=end.strftime("%H:%M"),
        country=_country_name(calendar.country, language) if calendar.country else None,
        cadence=tuple(cadence),
        contacts=tuple(
            ContactLine(one_line(c.name), text(c.role), text(c.reach))
            for c in (charter.contacts if charter else ())
        ),
    )


def _ranges(days: Sequence[int]) -> tuple[DayRange, ...]:
    """Weekdays as runs: [0, 1, 2, 3, 4, 6] → ((0, 4), (6, 6))."""
    runs: list[DayRange] = []
    for d in days:
        if runs and runs[-1][1] == d - 1:
            runs[-1] = (runs[-1][0], d)
        else:
            runs.append((d, d))
    return tuple(runs)


_CRON_DAYS = {name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}


def _cron_day(text: str) -> int:
    """A cron weekday (name, or number with 0 and 7 for Sunday) as 0 = Monday."""
    if text.isdigit():
        return (int(text) - 1) % 7
    return _CRON_DAYS[text]


def _scheduled_cadence(kind: str, cron: str | None) -> Cadence:
    """Minute, hour and weekdays of a plain cron in words; anything fancier as the cron."""
    if cron is None:
        return Cadence(kind)
    fields = cron.lower().split()
    raw = Cadence(kind, cron=one_line(cron))
    if len(fields) != 5 or not (fields[0].isdigit() and fields[1].isdigit()):
        return raw
    minute, hour, dom, month, dow = fields
    if dom != "*" or month != "*" or int(minute) > 59 or int(hour) > 23:
        return raw
    at_time = f"{int(hour):02d}:{int(minute):02d}"
    if dow == "*":
        return Cadence(kind, time=at_time)
    days: set[int] = set()
    try:
        for item in dow.split(","):
            first, _, last = item.partition("-")
            low, high = _cron_day(first), _cron_day(last or first)
            if high < low:
                return raw
            days.update(range(low, high + 1))
    except (KeyError, ValueError):
        return raw
    if len(days) == 7:
        return Cadence(kind, time=at_time)
    ordered = _ranges(sorted(days))
    return Cadence(kind, time=at_time, days=ordered, weekdays=ordered == ((0, 4),))


def _country_name(country: str, language: str) -> str:
    """The country's name in the report's language (`CN` → 中国, China)."""
    try:
        names = Locale.parse(language.replace("-", "_")).territories
    except (UnknownLocaleError, ValueError):
        return country
    return str(names.get(country.upper(), country))
