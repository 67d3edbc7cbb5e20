"""Whether a report may go out now (SPEC §8): freshness, approval, then quiet hours.

Pure rules; the ledger (connectors/store.py) records what they decide and flows/delivery.py
acts on it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from stagecast.calendar import WorkCalendar
from stagecast.models import SourceStatus

# A client report built on task data older than this is held rather than sent.
FRESHNESS = timedelta(hours=26)

Outcome = Literal["send", "held", "awaiting_approval", "deferred"]


@dataclass(frozen=True)
class Decision:
    """What to do with a rendered report for one channel, and why."""

    outcome: Outcome
    not_before: datetime | None = None
    reason: str | None = None


def stale_task_sources(
    sources: Iterable[SourceStatus], as_of: datetime, task_types: Collection[str]
) -> list[str]:
    """Task sources (of `task_types`: the source plugins that say they provide tasks) whose
    last success is more than 26 hours before `as_of` (or never)."""
    return [
        s.name
        for s in sources
        if s.type in task_types and (s.last_ok is None or as_of - s.last_ok > FRESHNESS)
    ]


def decide(
    *,
    audience: str,
    approval: bool,
    calendar: WorkCalendar,
    as_of: datetime,
    stale_sources: Iterable[str] = (),
) -> Decision:
    """Client reports wait for fresh data, a person's approval and the client's working hours;
    internal ones go at once."""
    stale = list(stale_sources)
    if audience == "client" and stale:
        return Decision("held", reason=f"data too old from: {', '.join(stale)}")
    if approval:
        return Decision("awaiting_approval", reason="the channel asks for approval")
    return when_allowed(audience, calendar, as_of)


def when_allowed(audience: str, calendar: WorkCalendar, as_of: datetime) -> Decision:
    """Send now, or defer a client report to the start of the next working window."""
    if audience != "client" or calendar.in_working_hours(as_of):
        return Decision("send")
    start = calendar.next_window_start(as_of)
    return Decision("deferred", not_before=start, reason="outside the client's working hours")
