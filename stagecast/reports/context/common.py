"""What every report kind shares: the audience filter, the lines a report is made of (stage
rows, task lines, risk lines, documents, decisions) and the header every report starts with.

A report kind's module builds its context from these; text from sources is made single-line
here and escaped for a format only by the renderer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from natsort import natsort_keygen

from stagecast.calendar import WorkCalendar
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

natural = natsort_keygen()

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
    (`due`, `days`, …) are the flag's, filled for the codes they explain, else None (all None
    for a flag stored before flags carried facts: a template then falls back to `detail`).
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


def header(
    project: ProjectConfig,
    snapshot: Snapshot,
    *,
    audience: Audience,
    language: str,
    calendar: WorkCalendar,
    period: str,
) -> dict[str, Any]:
    """The fields every report of a snapshot starts with: whose, for whom, in what language,
    as of when, and the ledger period it is sent for."""
    return {
        "project_key": project.key,
        "project_name": one_line(project.name),
        "audience": audience,
        "language": language,
        "as_of": snapshot.as_of.astimezone(calendar.tz),
        "date": calendar.local_date(snapshot.as_of),
        "period": period,
    }


def is_internal(task: Task) -> bool:
    """Labelled `internal` or `内部` (any case): the client never sees it in a list."""
    return any(label.strip().casefold() in INTERNAL_LABELS for label in task.labels)


def key_order(task: Task) -> Any:
    """Natural order of keys: PORTAL-9 before PORTAL-12."""
    return natural(task.key)


def tasks_by_key(tasks: Iterable[Task]) -> dict[str, Task]:
    """Risk subjects and change lists name tasks by key; the first task with a key wins."""
    found: dict[str, Task] = {}
    for task in tasks:
        found.setdefault(task.key, task)
    return found


def stage_row(stage: StageProgress) -> StageRow:
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
class TaskLines:
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


@dataclass(frozen=True)
class RiskLines:
    """Risk flags as report lines: the flag's facts as it carries them, and for a task flag
    the task's line (from this snapshot, else from `before`: the one it is compared with)."""

    lines: TaskLines
    tasks: Mapping[str, Task]
    before: Mapping[str, Task] = field(default_factory=dict)

    def of(self, flag: RiskFlag) -> RiskLine:
        line = RiskLine(
            code=flag.code,
            severity=flag.severity,
            subject=source_text(flag.subject),
            stage=source_text(flag.stage) if flag.stage else None,
            detail=source_text(flag.detail),
            due=flag.due,
            days=flag.days,
            remaining=flag.remaining,
            total=flag.total,
            forecast=flag.forecast,
            baseline=flag.baseline,
            growth_pct=flag.growth_pct,
            document=_source_text(flag.document),
            status=_source_text(flag.status),
            error=_source_text(flag.error),
        )
        if flag.code in TASK_CODES:
            task = self.tasks.get(flag.subject) or self.before.get(flag.subject)
            return replace(line, task=self.lines.of(task)) if task is not None else line
        if flag.code == "missing_deliverable" and line.stage and line.document:
            # The line names the stage and the document apart, not as `stage/document`.
            return replace(line, subject=line.stage)
        return line


def _source_text(text: str | None) -> str | None:
    return source_text(text) if text is not None else None


def changed_documents(
    documents: Sequence[Document], since: Snapshot | None, calendar: WorkCalendar
) -> list[DocumentLine]:
    """Files modified after the last report (every file for the first), newest first."""
    changed = [
        d
        for d in documents
        if since is None or (d.modified is not None and d.modified > since.as_of)
    ]
    changed.sort(key=lambda d: (d.modified is None, newest_first(d.modified), natural(d.name)))
    return [document_line(d, calendar) for d in changed]


def document_line(document: Document, calendar: WorkCalendar) -> DocumentLine:
    """A shared file as a report lists it: its name, link, and when it changed (local time)."""
    modified = document.modified
    return DocumentLine(
        name=source_text(document.name),
        url=safe_url(document.url),
        modified=modified.astimezone(calendar.tz) if modified is not None else None,
    )


def newest_first(moment: datetime | None) -> float:
    """Newest first."""
    return -moment.timestamp() if moment is not None else 0.0


def new_decisions(
    minutes: Sequence[MinuteItem], since: Snapshot | None, calendar: WorkCalendar
) -> list[DecisionLine]:
    """Decisions not in the last report's minutes, whatever their date: minutes are often
    filed, or a decision added to them, days after the meeting."""
    decisions = [m for m in minutes if m.kind == "decision"]
    if since is not None:
        known = {minute_id(m) for m in since.minutes}
        decisions = [m for m in decisions if minute_id(m) not in known]
    decisions.sort(key=lambda m: (m.date is None, m.date or date.min))
    return [decision_line(m) for m in decisions]


def decision_line(item: MinuteItem) -> DecisionLine:
    """A decision as every report shows it: its words, and the minutes it came from."""
    return DecisionLine(
        text=source_text(item.text),
        document=source_text(item.document),
        url=safe_url(item.url),
        date=item.date,
    )


def figures(snapshot: Snapshot) -> Figures:
    """The project's own counts, with its bar."""
    progress = snapshot.progress
    return Figures(
        progress.total, progress.done, progress.ratio, Bar.of(progress.done, progress.total)
    )


def minute_id(item: MinuteItem) -> tuple[str, str, str]:
    """A decision is the same decision when its words and document are; an edit to the
    minutes can move the document's date."""
    return (item.kind, item.text, item.document)


def audience_sees(flag: RiskFlag, client: bool, tasks: Mapping[str, Task]) -> bool:
    """Whether a flag may appear in a report for this audience (as the daily update decides)."""
    if not client:
        return True
    if flag.code in INTERNAL_CODES:
        return False
    task = tasks.get(flag.subject)
    return not (flag.code in TASK_CODES and task is not None and is_internal(task))
