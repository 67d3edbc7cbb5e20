"""The team alert: what the delivery team must hear about the machinery itself (SPEC §8–9).

Not a client report: a run that failed or crashed, a client report whose approval expired.
Always internal, in the channel's language, with a link to the run in the Prefect UI where
there is one. Facts only; the templates say them in each language.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal

from stagecast.calendar import WorkCalendar
from stagecast.config import ProjectConfig
from stagecast.reports.escape import one_line, safe_url, source_text

__all__ = ["MaybeDelivered", "RunProblem", "TeamAlert", "WaitedTooLong", "team_alert_context"]

KIND = "team_alert"


@dataclass(frozen=True)
class RunProblem:
    """A Prefect run that ended Failed or Crashed, and why."""

    flow: str
    run_name: str
    state: Literal["failed", "crashed"]
    reason: str
    link: str | None = None


@dataclass(frozen=True)
class WaitedTooLong:
    """A client report that waited for approval longer than its channel allows."""

    report: str
    report_period: str
    channel: str
    delivery: str
    waited_hours: int


@dataclass(frozen=True)
class MaybeDelivered:
    """A client report whose request left without an answer (a timeout after the post was
    sent, a run that died mid-send): it may or may not have arrived, and only a person can
    look. The report itself comes with the alert."""

    report: str
    report_period: str
    channel: str
    delivery: str
    why: str


@dataclass(frozen=True)
class TeamAlert:
    """Everything a team alert shows; exactly one of `run`, `approval`, `unknown` is set."""

    project_key: str
    project_name: str
    language: str
    as_of: datetime
    date: date
    period: str
    run: RunProblem | None = None
    approval: WaitedTooLong | None = None
    unknown: MaybeDelivered | None = None


def team_alert_context(
    project: ProjectConfig,
    as_of: datetime,
    *,
    language: str,
    calendar: WorkCalendar,
    run: RunProblem | None = None,
    approval: WaitedTooLong | None = None,
    unknown: MaybeDelivered | None = None,
) -> TeamAlert:
    """The alert about one failed run, one expired approval or one delivery of unknown fate.

    Its ledger period makes each alert go out once: a run's problem once a day per flow and
    reason (a source down all day is one alert, not one per sync), the others once each.
    """
    if sum(x is not None for x in (run, approval, unknown)) != 1:
        raise ValueError("a team alert is about one run, one approval or one delivery")
    local = as_of.astimezone(calendar.tz)
    if run is not None:
        run = RunProblem(
            flow=source_text(run.flow),
            run_name=source_text(run.run_name),
            state=run.state,
            reason=source_text(run.reason) or "—",
            link=safe_url(run.link) if run.link else None,
        )
        digest = hashlib.sha256(f"{run.flow}\n{run.reason}".encode()).hexdigest()[:10]
        period = f"{run.state}:{run.flow}:{digest}@{local.date().isoformat()}"
    elif approval is not None:
        period = f"approval_expired:{approval.delivery}"
    else:
        assert unknown is not None
        unknown = replace(unknown, why=source_text(unknown.why))
        period = f"unknown:{unknown.delivery}"
    return TeamAlert(
        project_key=project.key,
        project_name=one_line(project.name),
        language=language,
        as_of=local,
        date=local.date(),
        period=period,
        run=run,
        approval=approval,
        unknown=unknown,
    )


def hours(waited: timedelta) -> int:
    """Whole hours, at least 1: how an expired wait is told."""
    return max(1, int(waited.total_seconds() // 3600))
