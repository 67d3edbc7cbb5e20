"""The risk alert (SPEC §7): one new risk, its subject, and what it threatens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

from stagecast.calendar import WorkCalendar
from stagecast.config import ProjectConfig
from stagecast.models import RiskFlag, Snapshot
from stagecast.reports.context.common import (
    TASK_CODES,
    Audience,
    RiskLine,
    RiskLines,
    StageRow,
    TaskLine,
    TaskLines,
    header,
    is_internal,
    stage_row,
    tasks_by_key,
)
from stagecast.reports.escape import source_text

Day = date


@dataclass(frozen=True)
class SourceLine:
    """A source a `source_unavailable` alert is about, and when it last succeeded."""

    name: str
    last_ok: datetime | None


@dataclass(frozen=True)
class RiskAlert:
    """Everything a risk alert shows (SPEC §7): the risk and what it threatens.

    `stage` is the stage the risk belongs to; `task` the task it is about (None for a client
    when the task is internal: `internal_task` is then true and the title is not named).
    """

    project_key: str
    project_name: str
    audience: Audience
    language: str
    as_of: datetime
    date: date
    period: str
    risk: RiskLine
    raised: Day
    stage: StageRow | None
    task: TaskLine | None
    internal_task: bool
    source: SourceLine | None
    show_assignees: bool
    show_task_links: bool


def risk_alert_context(
    project: ProjectConfig,
    snapshot: Snapshot,
    flag: RiskFlag,
    history: Sequence[Snapshot],
    *,
    audience: Audience,
    language: str,
    calendar: WorkCalendar,
) -> RiskAlert:
    """The alert for `flag`, raised in `snapshot`; `history` dates when it was raised."""
    client = audience == "client"
    lines = TaskLines(calendar, show_names=not client)
    by_key = tasks_by_key(snapshot.tasks)
    stages = {s.name: s for s in snapshot.stages}
    line = RiskLines(lines, by_key).of(flag)

    task = by_key.get(flag.subject) if flag.code in TASK_CODES else None
    internal_task = client and task is not None and is_internal(task)
    stage_name = flag.stage or (task.stage if task is not None else None)
    if stage_name is None and flag.subject in stages:
        stage_name = flag.subject
    stage = stages.get(stage_name) if stage_name else None
    if internal_task:
        line = replace(line, task=None, subject="")

    source: SourceLine | None = None
    if flag.code == "source_unavailable":
        status = next((s for s in snapshot.sources if s.name == flag.subject), None)
        last_ok = status.last_ok if status is not None else None
        source = SourceLine(
            name=source_text(flag.subject),
            last_ok=last_ok.astimezone(calendar.tz) if last_ok is not None else None,
        )

    raised = _raised(flag, snapshot, history, calendar)
    return RiskAlert(
        **header(
            project,
            snapshot,
            audience=audience,
            language=language,
            calendar=calendar,
            period=f"{flag.code}:{flag.subject}@{raised.isoformat()}",
        ),
        risk=line,
        raised=raised,
        stage=stage_row(stage) if stage is not None else None,
        task=lines.of(task) if task is not None and not internal_task else None,
        internal_task=internal_task,
        source=source,
        show_assignees=not client,
        show_task_links=not client,
    )


def _raised(
    flag: RiskFlag, snapshot: Snapshot, history: Sequence[Snapshot], calendar: WorkCalendar
) -> date:
    """The local date of the first snapshot of the latest unbroken run holding the flag."""
    ordered = sorted(
        [s for s in history if s.as_of <= snapshot.as_of] + [snapshot], key=lambda s: s.as_of
    )
    holds = [any(f.ident == flag.ident for f in s.risks) for s in ordered]
    first: Snapshot | None = None
    for held, earlier in zip(reversed(holds), reversed(ordered), strict=True):
        if held:
            first = earlier
        elif first is not None:
            break
    return calendar.local_date((first or snapshot).as_of)
