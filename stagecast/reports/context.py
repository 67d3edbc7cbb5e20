"""What a report says, as plain data: the templates only lay it out (SPEC §7).

Everything a reader may or may not see is decided here, once for every format and language:
which flags and tasks a client sees, whose names appear, what changed since the last report.
Text from sources is made single-line here; escaping it for a format is the renderer's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from babel import Locale, UnknownLocaleError
from natsort import natsort_keygen

from stagecast.calendar import WorkCalendar
from stagecast.changes import compare
from stagecast.config import ProjectConfig
from stagecast.models import (
    Document,
    MinuteItem,
    RiskFlag,
    Severity,
    Snapshot,
    StageProgress,
    StageStatus,
    Task,
    TaskState,
)
from stagecast.reports.escape import one_line, safe_url, source_text
from stagecast.risks import sort_risks

__all__ = [
    "BAR_CELLS",
    "LIST_LIMIT",
    "Audience",
    "Bar",
    "Cadence",
    "ChangeLists",
    "Charter",
    "ContactLine",
    "DailyUpdate",
    "DecisionLine",
    "DeliverableLine",
    "DocumentLine",
    "Figures",
    "Listing",
    "NextStage",
    "ProblemLine",
    "RiskAlert",
    "RiskLine",
    "Risks",
    "SourceLine",
    "StageReport",
    "StageRow",
    "TaskLine",
    "charter_context",
    "daily_update_context",
    "is_internal",
    "risk_alert_context",
    "stage_report_context",
]

Audience = Literal["client", "internal"]

BAR_CELLS = 10
# A list longer than this shows its first items and "and N more": a report is read in a chat
# window, and the full list is one click away in Jira or Trello.
LIST_LIMIT = 15

# Flags about how the team works, not about the client's project: internal reports only.
INTERNAL_CODES = frozenset({"stale", "unassigned", "source_unavailable"})
# Flags whose subject is a task key.
TASK_CODES = frozenset({"overdue", "blocked", "stale", "unassigned"})
INTERNAL_LABELS = frozenset({"internal", "内部"})

_natural = natsort_keygen()

T = TypeVar("T")
Day = date  # `DailyUpdate.date` is a field; its annotations need the type by another name


@dataclass(frozen=True)
class Bar:
    """A progress bar: `filled` of `cells` cells for text, `percent` (0–100) for HTML widths.

    Integer arithmetic rounded down, so a bar is only full when everything is done.
    """

    filled: int
    cells: int = BAR_CELLS
    percent: int = 0

    @property
    def empty(self) -> int:
        return self.cells - self.filled

    @classmethod
    def of(cls, done: int, total: int, cells: int = BAR_CELLS) -> Bar:
        if total <= 0:
            return cls(0, cells, 0)
        return cls(done * cells // total, cells, done * 100 // total)


@dataclass(frozen=True)
class Listing(Generic[T]):
    """The first items of a list and how many more there are."""

    items: tuple[T, ...]
    more: int = 0

    @classmethod
    def of(cls, items: Iterable[T], limit: int = LIST_LIMIT) -> Listing[T]:
        everything = tuple(items)
        return cls(everything[:limit], max(0, len(everything) - limit))

    @property
    def count(self) -> int:
        return len(self.items) + self.more

    def __bool__(self) -> bool:
        return bool(self.items)


@dataclass(frozen=True)
class Figures:
    """The project's own counts: every task, staged or not, internal ones included."""

    total: int
    done: int
    ratio: float | None
    bar: Bar


@dataclass(frozen=True)
class StageRow:
    """One stage's line: how far, when due, when forecast, in what state."""

    name: str
    key: str
    due: date | None
    done: int
    total: int
    ratio: float | None
    status: StageStatus
    forecast: date | None
    completed_on: date | None
    bar: Bar

    @property
    def remaining(self) -> int:
        return self.total - self.done


@dataclass(frozen=True)
class TaskLine:
    """A task as a report shows it; `assignee` is None when the audience may not see names."""

    key: str
    title: str
    url: str | None
    assignee: str | None
    stage: str | None
    due: date | None
    status: str
    state: TaskState
    blocked: bool


@dataclass(frozen=True)
class RiskLine:
    """A risk flag with the facts a template needs to explain it in the report's language.

    `subject` is what the flag is about as a reader knows it (a task key, a stage name);
    `detail` is the flag's own English sentence, for a template that wants it as-is. The facts
    (`due`, `days`, …) are filled for the codes they explain, else None.
    """

    code: str
    severity: Severity
    subject: str
    stage: str | None
    detail: str
    task: TaskLine | None = None
    due: date | None = None
    days: int | None = None
    remaining: int | None = None
    total: int | None = None
    forecast: date | None = None
    baseline: int | None = None
    growth_pct: int | None = None
    document: str | None = None
    status: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Risks:
    """Flags raised since the last report, still open, and gone since.

    For a project's first report there is nothing to compare with: every open flag is `ongoing`.
    """

    new: tuple[RiskLine, ...]
    ongoing: tuple[RiskLine, ...]
    resolved: tuple[RiskLine, ...]

    @property
    def open(self) -> tuple[RiskLine, ...]:
        return self.new + self.ongoing

    def __bool__(self) -> bool:
        return bool(self.new or self.ongoing or self.resolved)


@dataclass(frozen=True)
class ChangeLists:
    """Tasks that moved since the last report."""

    done: Listing[TaskLine]
    added: Listing[TaskLine]
    blocked: Listing[TaskLine]

    def __bool__(self) -> bool:
        return bool(self.done or self.added or self.blocked)


@dataclass(frozen=True)
class DocumentLine:
    """A Drive file changed since the last report; `modified` is in the project's timezone."""

    name: str
    url: str | None
    modified: datetime | None


@dataclass(frozen=True)
class DecisionLine:
    """A decision recorded in meeting minutes, with the minutes it came from."""

    text: str
    document: str
    url: str | None
    date: date | None


@dataclass(frozen=True)
class DailyUpdate:
    """Everything a daily update shows (SPEC §7), for one audience."""

    project_key: str
    project_name: str
    audience: Audience
    language: str
    as_of: datetime
    date: date
    period: str
    first_update: bool
    since_as_of: datetime | None
    since_date: Day | None
    progress: Figures
    stages: tuple[StageRow, ...]
    changes: ChangeLists
    risks: Risks
    due_soon: Listing[TaskLine]
    due_soon_days: int
    due_soon_until: Day
    documents: Listing[DocumentLine]
    decisions: tuple[DecisionLine, ...]
    show_assignees: bool
    show_task_links: bool


def is_internal(task: Task) -> bool:
    """Labelled `internal` or `内部` (any case): the client never sees it in a list."""
    return any(label.strip().casefold() in INTERNAL_LABELS for label in task.labels)


def daily_update_context(
    project: ProjectConfig,
    snapshot: Snapshot,
    since: Snapshot | None,
    *,
    audience: Audience,
    language: str,
    calendar: WorkCalendar,
    for_date: date | None = None,
) -> DailyUpdate:
    """The daily update of `snapshot`, against `since`: the snapshot the last one was made from.

    `for_date` is the day a scheduled update is for (its cron occurrence), which names its
    ledger period even when the run starts late; by default, the snapshot's own date.
    """
    client = audience == "client"
    today = calendar.local_date(snapshot.as_of)
    by_key = _tasks_by_key(snapshot.tasks)
    before = _tasks_by_key(since.tasks) if since is not None else {}
    lines = _TaskLines(calendar, show_names=not client)

    def visible(task: Task) -> bool:
        return not (client and is_internal(task))

    def listed(keys: Iterable[str]) -> Listing[TaskLine]:
        tasks = (by_key[k] for k in keys if k in by_key)
        return Listing.of(lines.of(t) for t in sorted(tasks, key=_by_key) if visible(t))

    changes = compare(since, snapshot)
    until = calendar.add_working_days(today, project.risk.due_soon_days)
    due_soon = sorted(
        (
            t
            for t in snapshot.tasks
            if t.state != "done"
            and t.due is not None
            and today <= calendar.local_date(t.due) <= until
            and visible(t)
        ),
        key=lambda t: (calendar.local_date(t.due) if t.due else today, _natural(t.key)),
    )
    risk_lines = _RiskLines(
        lines, today, calendar, {s.name: s for s in snapshot.stages}, by_key, before
    )

    known = {**before, **by_key}

    def shown(flag: RiskFlag) -> bool:
        return _shown(flag, client, known)

    if since is None:
        new: list[RiskFlag] = []
        ongoing = list(snapshot.risks)
    else:
        raised = {f.ident for f in changes.risks_raised}
        new = [f for f in snapshot.risks if f.ident in raised]
        ongoing = [f for f in snapshot.risks if f.ident not in raised]
    risks = Risks(
        new=tuple(risk_lines.of(f) for f in sort_risks(new) if shown(f)),
        ongoing=tuple(risk_lines.of(f) for f in sort_risks(ongoing) if shown(f)),
        resolved=tuple(risk_lines.of(f) for f in sort_risks(changes.risks_resolved) if shown(f)),
    )
    progress = snapshot.progress
    return DailyUpdate(
        project_key=project.key,
        project_name=one_line(project.name),
        audience=audience,
        language=language,
        as_of=snapshot.as_of.astimezone(calendar.tz),
        date=today,
        period=(for_date or today).isoformat(),
        first_update=since is None,
        since_as_of=since.as_of.astimezone(calendar.tz) if since is not None else None,
        since_date=calendar.local_date(since.as_of) if since is not None else None,
        progress=Figures(
            progress.total, progress.done, progress.ratio, Bar.of(progress.done, progress.total)
        ),
        stages=tuple(_stage_row(s) for s in snapshot.stages),
        changes=ChangeLists(
            done=listed(changes.newly_done),
            added=listed(changes.added),
            blocked=listed(changes.newly_blocked),
        ),
        risks=risks,
        due_soon=Listing.of(lines.of(t) for t in due_soon),
        due_soon_days=project.risk.due_soon_days,
        due_soon_until=until,
        documents=Listing.of(_documents(snapshot.documents, since, calendar)),
        decisions=tuple(_decisions(snapshot.minutes, since, calendar)),
        show_assignees=not client,
        show_task_links=not client,
    )


def _by_key(task: Task) -> Any:
    """Natural order of keys: PORTAL-9 before PORTAL-12."""
    return _natural(task.key)


def _tasks_by_key(tasks: Iterable[Task]) -> dict[str, Task]:
    """Risk subjects and change lists name tasks by key; the first task with a key wins."""
    found: dict[str, Task] = {}
    for task in tasks:
        found.setdefault(task.key, task)
    return found


def _stage_row(stage: StageProgress) -> StageRow:
    return StageRow(
        name=source_text(stage.name),
        key=stage.key,
        due=stage.due,
        done=stage.done,
        total=stage.total,
        ratio=stage.ratio,
        status=stage.status,
        forecast=stage.forecast,
        completed_on=stage.completed_on,
        bar=Bar.of(stage.done, stage.total),
    )


@dataclass(frozen=True)
class _TaskLines:
    calendar: WorkCalendar
    show_names: bool

    def of(self, task: Task) -> TaskLine:
        assignee = source_text(task.assignee) if task.assignee and self.show_names else None
        return TaskLine(
            key=source_text(task.key),
            title=source_text(task.title),
            url=safe_url(task.url),
            assignee=assignee or None,
            stage=source_text(task.stage) if task.stage else None,
            due=self.calendar.local_date(task.due) if task.due is not None else None,
            status=source_text(task.status),
            state=task.state,
            blocked=task.blocked,
        )


# The flag's own detail for scope creep is the only place its baseline is recorded.
_SCOPE = re.compile(r"(\d+) tasks against a baseline of (\d+) \(\+(\d+)%\)")


@dataclass(frozen=True)
class _RiskLines:
    lines: _TaskLines
    today: date
    calendar: WorkCalendar
    stages: Mapping[str, StageProgress]
    tasks: Mapping[str, Task]
    before: Mapping[str, Task]

    def of(self, flag: RiskFlag) -> RiskLine:
        line = RiskLine(
            code=flag.code,
            severity=flag.severity,
            subject=source_text(flag.subject),
            stage=source_text(flag.stage) if flag.stage else None,
            detail=source_text(flag.detail),
        )
        if flag.code in TASK_CODES:
            return self._task_risk(line, flag)
        if flag.code in ("stage_late", "stage_at_risk"):
            stage = self.stages.get(flag.subject)
            if stage is None:
                return line
            return replace(
                line,
                due=stage.due,
                remaining=stage.total - stage.done,
                total=stage.total,
                forecast=stage.forecast,
            )
        if flag.code == "scope_creep":
            match = _SCOPE.search(flag.detail)
            if match is None:
                return line
            total, baseline, pct = (int(g) for g in match.groups())
            return replace(line, total=total, baseline=baseline, growth_pct=pct)
        if flag.code == "missing_deliverable" and flag.stage:
            prefix = f"{flag.stage}/"
            document = flag.subject.removeprefix(prefix)
            return replace(line, subject=line.stage or line.subject, document=source_text(document))
        if flag.code == "source_unavailable":
            error = flag.detail.removeprefix(f"{flag.subject} failed: ")
            return replace(line, error=source_text(error))
        return line

    def _task_risk(self, line: RiskLine, flag: RiskFlag) -> RiskLine:
        task = self.tasks.get(flag.subject) or self.before.get(flag.subject)
        if task is None:
            return line
        due = self.calendar.local_date(task.due) if task.due is not None else None
        days: int | None = None
        if flag.code == "overdue" and due is not None:
            days = (self.today - due).days
        elif flag.code == "stale" and task.updated is not None:
            days = (self.today - self.calendar.local_date(task.updated)).days
        return replace(
            line, task=self.lines.of(task), due=due, days=days, status=source_text(task.status)
        )


def _documents(
    documents: Sequence[Document], since: Snapshot | None, calendar: WorkCalendar
) -> list[DocumentLine]:
    """Files modified after the last report (every file for the first), newest first."""
    changed = [
        d
        for d in documents
        if since is None or (d.modified is not None and d.modified > since.as_of)
    ]
    changed.sort(key=lambda d: (d.modified is None, _sort_stamp(d.modified), _natural(d.name)))
    return [
        DocumentLine(
            name=source_text(d.name),
            url=safe_url(d.url),
            modified=d.modified.astimezone(calendar.tz) if d.modified is not None else None,
        )
        for d in changed
    ]


def _sort_stamp(moment: datetime | None) -> float:
    """Newest first."""
    return -moment.timestamp() if moment is not None else 0.0


def _decisions(
    minutes: Sequence[MinuteItem], since: Snapshot | None, calendar: WorkCalendar
) -> list[DecisionLine]:
    """Decisions not in the last report's minutes, whatever their date: minutes are often
    filed, or a decision added to them, days after the meeting."""
    decisions = [m for m in minutes if m.kind == "decision"]
    if since is not None:
        known = {_minute_id(m) for m in since.minutes}
        decisions = [m for m in decisions if _minute_id(m) not in known]
    decisions.sort(key=lambda m: (m.date is None, m.date or date.min))
    return [
        DecisionLine(
            text=source_text(m.text),
            document=source_text(m.document),
            url=safe_url(m.url),
            date=m.date,
        )
        for m in decisions
    ]


def _minute_id(item: MinuteItem) -> tuple[str, str, str]:
    """A decision is the same decision when its words and document are; an edit to the
    minutes can move the document's date."""
    return (item.kind, item.text, item.document)


# --- stage report --------------------------------------------------------------------------

# Task types that are problems by nature (compared case-insensitively).
PROBLEM_TYPES = frozenset({"bug", "problem", "incident", "impediment", "问题"})
# The next stage's open tasks a stage report shows: a glimpse of its scope, not the backlog.
NEXT_STAGE_LIMIT = 5


@dataclass(frozen=True)
class ProblemLine:
    """A problem met during a stage: the task, how it ended, and its last comment.

    `resolution` is the source's own resolution when it has one; else `done` says whether the
    problem is solved.
    """

    task: TaskLine
    resolution: str | None
    done: bool
    comment: str | None


@dataclass(frozen=True)
class DeliverableLine:
    """A document the stage must deliver, and the shared file that delivers it (if any)."""

    name: str
    present: bool
    document: str | None
    url: str | None


@dataclass(frozen=True)
class NextStage:
    """The stage after the reported one: when due, how big, and a few of its open tasks."""

    stage: StageRow
    open_tasks: Listing[TaskLine]


@dataclass(frozen=True)
class StageReport:
    """Everything a stage report shows (SPEC §7), for one audience.

    `late_days` is the working days after the due date up to and including the completion date
    (0 when on time; None when the stage is not done or has no due date). The span runs from
    `span_start` (None when unknown) to `span_end`: the completion date, or the report's date.
    """

    project_key: str
    project_name: str
    audience: Audience
    language: str
    as_of: datetime
    date: date
    period: str
    stage: StageRow
    completed: bool
    late_days: int | None
    span_start: Day | None
    span_end: Day
    delivered: Listing[TaskLine]
    problems: tuple[ProblemLine, ...]
    decisions: tuple[DecisionLine, ...]
    deliverables: tuple[DeliverableLine, ...]
    risks: tuple[RiskLine, ...]
    next_stage: NextStage | None
    show_assignees: bool
    show_task_links: bool


def stage_report_context(
    project: ProjectConfig,
    snapshot: Snapshot,
    stage_key: str,
    history: Sequence[Snapshot],
    *,
    audience: Audience,
    language: str,
    calendar: WorkCalendar,
) -> StageReport:
    """The report of one stage at `snapshot`; `history` holds the project's earlier snapshots
    (any order), for the tasks that were blocked during the stage."""
    order = [s.key for s in snapshot.stages]
    if stage_key not in order:
        raise KeyError(stage_key)
    index = order.index(stage_key)
    progress = snapshot.stages[index]
    client = audience == "client"
    today = calendar.local_date(snapshot.as_of)
    lines = _TaskLines(calendar, show_names=not client)
    by_key = _tasks_by_key(snapshot.tasks)

    def visible(task: Task) -> bool:
        return not (client and is_internal(task))

    own = sorted((t for t in snapshot.tasks if t.stage == progress.name), key=_by_key)
    completed = progress.status == "done" and progress.completed_on is not None
    span_end = progress.completed_on if completed and progress.completed_on else today
    if index > 0:
        span_start = snapshot.stages[index - 1].completed_on
    else:
        created = [calendar.local_date(t.created) for t in own if t.created is not None]
        span_start = min(created) if created else None

    def in_span(moment: date) -> bool:
        return (span_start is None or span_start <= moment) and moment <= span_end

    late_days: int | None = None
    if completed and progress.due is not None and progress.completed_on is not None:
        late = progress.completed_on > progress.due
        late_days = max(1, calendar.working_days_after(progress.due, progress.completed_on))
        late_days = late_days if late else 0

    own_keys = {t.key for t in own}
    blocked_keys = {t.key for t in own if t.blocked}
    for earlier in history:
        if earlier.as_of <= snapshot.as_of and in_span(calendar.local_date(earlier.as_of)):
            blocked_keys.update(t.key for t in earlier.tasks if t.blocked and t.key in own_keys)
    problems = tuple(
        ProblemLine(
            task=lines.of(t),
            resolution=source_text(t.resolution) if t.resolution else None,
            done=t.state == "done",
            comment=source_text(t.last_comment) if t.last_comment else None,
        )
        for t in own
        if visible(t)
        and ((t.type or "").strip().casefold() in PROBLEM_TYPES or t.key in blocked_keys)
    )

    decisions = sorted(
        (
            m
            for m in snapshot.minutes
            if m.kind == "decision" and (m.date is None or in_span(m.date))
        ),
        key=lambda m: (m.date is None, m.date or date.min),
    )

    deliverables = []
    for name in progress.required_docs:
        found = next((d for d in snapshot.documents if name.casefold() in d.name.casefold()), None)
        deliverables.append(
            DeliverableLine(
                name=one_line(name),
                present=found is not None,
                document=source_text(found.name) if found else None,
                url=safe_url(found.url) if found else None,
            )
        )

    risk_lines = _RiskLines(
        lines, today, calendar, {s.name: s for s in snapshot.stages}, by_key, {}
    )
    carried = [
        f
        for f in snapshot.risks
        if f.stage != progress.name and f.subject != progress.name and _shown(f, client, by_key)
    ]

    next_stage: NextStage | None = None
    if index + 1 < len(snapshot.stages):
        following = snapshot.stages[index + 1]
        open_tasks = (
            t
            for t in sorted(snapshot.tasks, key=_by_key)
            if t.stage == following.name and t.state != "done" and visible(t)
        )
        next_stage = NextStage(
            _stage_row(following), Listing.of(map(lines.of, open_tasks), NEXT_STAGE_LIMIT)
        )

    return StageReport(
        project_key=project.key,
        project_name=one_line(project.name),
        audience=audience,
        language=language,
        as_of=snapshot.as_of.astimezone(calendar.tz),
        date=today,
        period=stage_key if completed else f"{stage_key}@{today.isoformat()}",
        stage=_stage_row(progress),
        completed=completed,
        late_days=late_days,
        span_start=span_start,
        span_end=span_end,
        delivered=Listing.of(lines.of(t) for t in own if t.state == "done" and visible(t)),
        problems=problems,
        decisions=tuple(
            DecisionLine(
                text=source_text(m.text),
                document=source_text(m.document),
                url=safe_url(m.url),
                date=m.date,
            )
            for m in decisions
        ),
        deliverables=tuple(deliverables),
        risks=tuple(risk_lines.of(f) for f in sort_risks(carried)),
        next_stage=next_stage,
        show_assignees=not client,
        show_task_links=not client,
    )


def _shown(flag: RiskFlag, client: bool, tasks: Mapping[str, Task]) -> bool:
    """Whether a flag may appear in a report for this audience (as the daily update decides)."""
    if not client:
        return True
    if flag.code in INTERNAL_CODES:
        return False
    task = tasks.get(flag.subject)
    return not (flag.code in TASK_CODES and task is not None and is_internal(task))


# --- risk alert ----------------------------------------------------------------------------


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
    today = calendar.local_date(snapshot.as_of)
    lines = _TaskLines(calendar, show_names=not client)
    by_key = _tasks_by_key(snapshot.tasks)
    stages = {s.name: s for s in snapshot.stages}
    line = _RiskLines(lines, today, calendar, stages, by_key, {}).of(flag)

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
        project_key=project.key,
        project_name=one_line(project.name),
        audience=audience,
        language=language,
        as_of=snapshot.as_of.astimezone(calendar.tz),
        date=today,
        period=f"{flag.code}:{flag.subject}@{raised.isoformat()}",
        risk=line,
        raised=raised,
        stage=_stage_row(stage) if stage is not None else None,
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


# --- charter -------------------------------------------------------------------------------

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
        if kind == "daily_update":
            cadence.append(_daily_cadence(rule.cron))
        elif kind in ("stage_report", "risk_alert"):
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


def _daily_cadence(cron: str | None) -> Cadence:
    """Minute, hour and weekdays of a plain cron in words; anything fancier as the cron."""
    if cron is None:
        return Cadence("daily_update")
    fields = cron.lower().split()
    raw = Cadence("daily_update", cron=one_line(cron))
    if len(fields) != 5 or not (fields[0].isdigit() and fields[1].isdigit()):
        return raw
    minute, hour, dom, month, dow = fields
    if dom != "*" or month != "*" or int(minute) > 59 or int(hour) > 23:
        return raw
    at_time = f"{int(hour):02d}:{int(minute):02d}"
    if dow == "*":
        return Cadence("daily_update", time=at_time)
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
        return Cadence("daily_update", time=at_time)
    ordered = _ranges(sorted(days))
    return Cadence("daily_update", time=at_time, days=ordered, weekdays=ordered == ((0, 4),))


def _country_name(country: str, language: str) -> str:
    """The country's name in the report's language (`CN` → 中国, China)."""
    try:
        names = Locale.parse(language.replace("-", "_")).territories
    except (UnknownLocaleError, ValueError):
        return country
    return str(names.get(country.upper(), country))
