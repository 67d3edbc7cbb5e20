"""Which daily update a scheduled run is for, and catching up the ones that were missed (SPEC §9).

A daily update belongs to a cron occurrence of its project ("Mon 17:30 Shanghai"); its ledger
period is that occurrence's local date, whenever the run actually starts. When the server or
the serving process was down, several occurrences can be due at once: only the latest one is
sent, covering everything since the last update sent, so a client gets one catch-up rather than
one report per missed day.

Cron expressions are read by cronsim, the same five-field syntax Prefect schedules use.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, tzinfo

from cronsim import CronSim

# A scheduled run may start a little late without being "missed": a busy worker, a slow start.
CATCH_UP_GRACE = timedelta(minutes=30)


def latest_due(cron: str, tz: tzinfo, now: datetime) -> datetime:
    """The latest occurrence of `cron` in `tz` at or before `now`."""
    local = now.astimezone(tz)
    if local.second == 0 and local.microsecond == 0 and _matches(cron, local):
        return local
    return next(CronSim(cron, local.replace(microsecond=0), reverse=True))


def next_after(cron: str, tz: tzinfo, moment: datetime) -> datetime:
    """The first occurrence of `cron` in `tz` strictly after `moment`."""
    return next(CronSim(cron, moment.astimezone(tz)))


def _matches(cron: str, local: datetime) -> bool:
    """Whether `local` (whole minute) is itself an occurrence."""
    return next(CronSim(cron, local - timedelta(minutes=1))) == local


def superseded_by(cron: str, tz: tzinfo, due: datetime, now: datetime) -> datetime | None:
    """A later occurrence that is also due by `now`, when the run for `due` starts that late.

    The run for `due` then sends nothing: the run for the later occurrence (or the catch-up)
    covers everything since the last update sent.
    """
    later = next_after(cron, tz, due)
    return later if later <= now else None


def missed_occurrence(
    cron: str,
    tz: tzinfo,
    now: datetime,
    recorded: set[date],
    grace: timedelta = CATCH_UP_GRACE,
) -> datetime | None:
    """The occurrence a catch-up should send now, or None.

    `recorded` holds the local dates for which a daily update is already in the ledger (sent
    or not). Only a project that has had a daily update before is caught up: a new project
    starts at its next occurrence. Only the latest occurrence due by `now - grace` counts.
    """
    if not recorded:
        return None
    due = latest_due(cron, tz, now - grace)
    if due.date() in recorded or due.date() < max(recorded):
        return None
    return due
