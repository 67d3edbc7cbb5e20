"""The weekly update (SPEC §7): the ISO week's work for a client who wants a Friday summary
rather than a daily one — done this week, next week's plan per stage, risks new and resolved
this week, decisions and documents of the week, progress per stage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from stagecast.calendar import WorkCalendar
from stagecast.config import ProjectConfig
from stagecast.models import MinuteItem, RiskFlag, Snapshot, Task
from stagecast.reports.context.common import (
    Audience,
    DecisionLine,
    DocumentLine,
    Figures,
    Listing,
    RiskLine,
    RiskLines,
    Risks,
    StageRow,
    TaskLine,
    TaskLines,
    audience_sees,
    decision_line,
    document_line,
    figures,
    header,
    is_internal,
    key_order,
    natural,
    newest_first,
    stage_row,
    tasks_by_key,
)
from stagecast.reports.escape import source_text
from stagecast.risks import sort_risks

Day = date  # `WeeklyUpdate.date` is a field; its annotations need the type by another name


@dataclass(frozen=True)
class StagePlanLine:
    """One stage's part of next week's plan: the tasks due then (`stage` None: unstaged)."""

    stage: str | None
    tasks: Listing[TaskLine]


@dataclass(frozen=True)
class WeeklyUpdate:
    """Everything a weekly update shows (SPEC §7), for one audience.

    The week is the ISO week (Monday to Sunday) of `week_of`: the day the update is for.
    `period` is that week as `2026-W47`, the ledger's key, so a week is sent once.
    """

    project_key: str
    project_name: str
    audience: Audience
    language: str
    as_of: datetime
    date: date
    period: str
    week: int
    week_start: Day
    week_end: Day
    next_start: Day
    next_end: Day
    progress: Figures
    stages: tuple[StageRow, ...]
    done: Listing[TaskLine]
    plan: tuple[StagePlanLine, ...]
    risks: Risks
    decisions: tuple[DecisionLine, ...]
    documents: Listing[DocumentLine]
    show_assignees: bool
    show_task_links: bool


def iso_week(day: date) -> str:
    """The ledger period of a weekly update: `2026-W47`."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def weekly_update_context(
    project: ProjectConfig,
    snapshot: Snapshot,
    history: Sequence[Snapshot],
    *,
    audience: Audience,
    language: str,
    calendar: WorkCalendar,
    for_date: date | None = None,
) -> WeeklyUpdate:
    """The weekly update of `snapshot`'s week; `history` holds the project's earlier snapshots
    (any order), to tell which risks were raised and resolved during the week.

    `for_date` is the day a scheduled update is for (its cron occurrence), which names the week
    even when the run starts late; by default, the snapshot's own date.
    """
    client = audience == "client"
    today = calendar.local_date(snapshot.as_of)
    week_of = for_date or today
    start = week_of - timedelta(days=week_of.weekday())
    end = start + timedelta(days=6)
    lines = TaskLines(calendar, show_names=not client)

    def visible(task: Task) -> bool:
        return not (client and is_internal(task))

    def done_this_week(task: Task) -> bool:
        if task.state != "done" or task.done_at is None:
            return False
        return start <= calendar.local_date(task.done_at) <= min(end, today)

    done = sorted((t for t in snapshot.tasks if done_this_week(t) and visible(t)), key=key_order)
    return WeeklyUpdate(
        **header(
            project,
            snapshot,
            audience=audience,
            language=language,
            calendar=calendar,
            period=iso_week(week_of),
        ),
        week=week_of.isocalendar()[1],
        week_start=start,
        week_end=end,
        next_start=end + timedelta(days=1),
        next_end=end + timedelta(days=7),
        progress=figures(snapshot),
        stages=tuple(stage_row(s) for s in snapshot.stages),
        done=Listing.of(lines.of(t) for t in done),
        plan=_plan(snapshot, lines, calendar, end, visible),
        risks=_week_risks(snapshot, history, start, calendar, lines, client),
        decisions=_week_decisions(snapshot.minutes, start, end),
        documents=Listing.of(_week_documents(snapshot, start, end, calendar)),
        show_assignees=not client,
        show_task_links=not client,
    )


def _plan(
    snapshot: Snapshot,
    lines: TaskLines,
    calendar: WorkCalendar,
    week_end: date,
    visible: Callable[[Task], bool],
) -> tuple[StagePlanLine, ...]:
    """Open tasks due in the coming ISO week, per stage in plan order (unstaged ones last)."""
    first, last = week_end + timedelta(days=1), week_end + timedelta(days=7)
    due = [
        t
        for t in snapshot.tasks
        if t.state != "done"
        and t.due is not None
        and first <= calendar.local_date(t.due) <= last
        and visible(t)
    ]

    def order(task: Task) -> tuple[date, object]:
        return (calendar.local_date(task.due) if task.due else first, natural(task.key))

    plan = []
    for stage in [s.name for s in snapshot.stages] + [None]:
        tasks = sorted((t for t in due if t.stage == stage), key=order)
        if tasks:
            name = source_text(stage) if stage is not None else None
            plan.append(StagePlanLine(name, Listing.of(map(lines.of, tasks))))
    return tuple(plan)


def _week_risks(
    snapshot: Snapshot,
    history: Sequence[Snapshot],
    week_start: date,
    calendar: WorkCalendar,
    lines: TaskLines,
    client: bool,
) -> Risks:
    """New: open now, not open when the week began. Resolved: open at some point this week
    (at its start included) and no longer. Ongoing: the rest of what is open."""
    began = datetime.combine(week_start, time.min, calendar.tz)
    earlier = sorted((s for s in history if s.as_of < snapshot.as_of), key=lambda s: s.as_of)
    before = [s for s in earlier if s.as_of < began]
    during = [s for s in earlier if s.as_of >= began]
    at_start = {f.ident for f in before[-1].risks} if before else set()
    now = {f.ident for f in snapshot.risks}
    seen: dict[tuple[str, str], RiskFlag] = {}
    for earlier_snapshot in before[-1:] + during:
        for flag in earlier_snapshot.risks:
            seen[flag.ident] = flag
    resolved = [flag for ident, flag in seen.items() if ident not in now]
    known = {
        **tasks_by_key(t for s in earlier[-1:] for t in s.tasks),
        **tasks_by_key(snapshot.tasks),
    }
    risk_lines = RiskLines(lines, tasks_by_key(snapshot.tasks), known)

    def shown(flags: Sequence[RiskFlag]) -> tuple[RiskLine, ...]:
        return tuple(risk_lines.of(f) for f in sort_risks(flags) if audience_sees(f, client, known))

    first_report = not before and not during
    return Risks(
        new=() if first_report else shown([f for f in snapshot.risks if f.ident not in at_start]),
        ongoing=shown(
            list(snapshot.risks)
            if first_report
            else [f for f in snapshot.risks if f.ident in at_start]
        ),
        resolved=shown(resolved),
    )


def _week_decisions(
    minutes: Sequence[MinuteItem], start: date, end: date
) -> tuple[DecisionLine, ...]:
    """Decisions from minutes dated in the week, in date order."""
    decisions = [m for m in minutes if m.kind == "decision" and m.date and start <= m.date <= end]
    decisions.sort(key=lambda m: (m.date or start, m.document))
    return tuple(decision_line(m) for m in decisions)


def _week_documents(
    snapshot: Snapshot, start: date, end: date, calendar: WorkCalendar
) -> list[DocumentLine]:
    """Files modified during the week, newest first."""
    changed = [
        d
        for d in snapshot.documents
        if d.modified is not None and start <= calendar.local_date(d.modified) <= end
    ]
    changed.sort(key=lambda d: (newest_first(d.modified), natural(d.name)))
    return [document_line(d, calendar) for d in changed]
