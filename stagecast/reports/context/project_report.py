"""The project wrap-up (SPEC §7): every stage planned vs actual with its slip, what each stage
delivered, the project's problems and how each was solved, the decisions log, the deliverables,
the figures a client values, and the open items handed over."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from stagecast.calendar import WorkCalendar
from stagecast.config import ProjectConfig
from stagecast.models import Document, Snapshot, StageProgress, Task
from stagecast.reports.context.common import (
    Audience,
    DecisionLine,
    Figures,
    Listing,
    RiskLine,
    RiskLines,
    StageRow,
    TaskLine,
    TaskLines,
    audience_sees,
    decision_line,
    figures,
    header,
    is_internal,
    key_order,
    stage_row,
    tasks_by_key,
)
from stagecast.reports.context.stage_report import (
    PROBLEM_TYPES,
    DeliverableLine,
    ProblemLine,
)
from stagecast.reports.escape import one_line, safe_url, source_text
from stagecast.risks import sort_risks

Day = date

# What a wrap-up lists per stage: the shape of what was delivered, not the whole backlog.
DELIVERED_PER_STAGE = 8


@dataclass(frozen=True)
class StageOutcome:
    """One stage in the wrap-up: planned vs actual, and what it delivered.

    `late_days` is the working days after the due date up to and including the completion
    (0: on time; None: not done, or no due date), as in the stage report.
    """

    stage: StageRow
    late_days: int | None
    delivered: Listing[TaskLine]
    deliverables: tuple[DeliverableLine, ...]


@dataclass(frozen=True)
class ProjectFigures:
    """The numbers a client remembers of a project.

    `finish_slip` is the working days the last completion came after the last due date (0 on
    time; None while stages are open or none has a due date). `blocked_days` adds up, over
    tasks, the working days each was seen blocked between syncs. `scope_added` is the tasks
    each stage gained after its baseline (its count in the first snapshot that had any).
    """

    stages: int
    stages_done: int
    on_time: int
    late: int
    finish_slip: int | None
    late_days: int
    blocked_tasks: int
    blocked_days: int
    baseline: int
    scope_added: int


@dataclass(frozen=True)
class ProjectReport:
    """Everything a project wrap-up shows (SPEC §7), for one audience.

    `completed` when every stage is done: its period is then `project`, else
    `project@<date>` (a wrap-up asked for early does not stand in for the final one).
    """

    project_key: str
    project_name: str
    audience: Audience
    language: str
    as_of: datetime
    date: date
    period: str
    completed: bool
    started_on: Day | None
    finished_on: Day | None
    planned_end: Day | None
    progress: Figures
    figures: ProjectFigures
    stages: tuple[StageOutcome, ...]
    problems: Listing[ProblemLine]
    decisions: tuple[DecisionLine, ...]
    open_tasks: Listing[TaskLine]
    open_risks: tuple[RiskLine, ...]
    show_assignees: bool
    show_task_links: bool


def project_report_context(
    project: ProjectConfig,
    snapshot: Snapshot,
    history: Sequence[Snapshot],
    *,
    audience: Audience,
    language: str,
    calendar: WorkCalendar,
) -> ProjectReport:
    """The wrap-up of the project at `snapshot`; `history` holds its earlier snapshots (any
    order), for the time tasks spent blocked and the scope each stage began with."""
    client = audience == "client"
    today = calendar.local_date(snapshot.as_of)
    lines = TaskLines(calendar, show_names=not client)
    by_key = tasks_by_key(snapshot.tasks)
    timeline = sorted(
        [s for s in history if s.as_of < snapshot.as_of] + [snapshot], key=lambda s: s.as_of
    )

    def visible(task: Task) -> bool:
        return not (client and is_internal(task))

    stages = snapshot.stages
    completed = bool(stages) and all(s.status == "done" for s in stages)
    outcomes = tuple(_outcome(s, snapshot, lines, calendar, visible) for s in stages)
    blocked = blocked_days(timeline, calendar)
    problems = [
        problem_line(t, lines)
        for t in sorted(snapshot.tasks, key=key_order)
        if visible(t) and (is_problem_type(t) or t.key in blocked)
    ]
    created = [calendar.local_date(t.created) for t in snapshot.tasks if t.created is not None]
    finished = [s.completed_on for s in stages if s.completed_on is not None]
    dues = [s.due for s in stages if s.due is not None]
    open_tasks = (t for t in sorted(snapshot.tasks, key=key_order) if t.state != "done")
    risk_lines = RiskLines(lines, today, calendar, {s.name: s for s in stages}, by_key, {})
    period = "project" if completed else f"project@{today.isoformat()}"
    return ProjectReport(
        **header(
            project,
            snapshot,
            audience=audience,
            language=language,
            calendar=calendar,
            period=period,
        ),
        completed=completed,
        started_on=min(created) if created else None,
        finished_on=max(finished) if completed and finished else None,
        planned_end=max(dues) if dues else None,
        progress=figures(snapshot),
        figures=_figures(stages, outcomes, timeline, blocked, calendar, completed),
        stages=outcomes,
        problems=Listing.of(problems),
        decisions=tuple(
            decision_line(m)
            for m in sorted(
                (m for m in snapshot.minutes if m.kind == "decision"),
                key=lambda m: (m.date is None, m.date or date.min, m.document),
            )
        ),
        open_tasks=Listing.of(lines.of(t) for t in open_tasks if visible(t)),
        open_risks=tuple(
            risk_lines.of(f) for f in sort_risks(snapshot.risks) if audience_sees(f, client, by_key)
        ),
        show_assignees=not client,
        show_task_links=not client,
    )


def _outcome(
    stage: StageProgress,
    snapshot: Snapshot,
    lines: TaskLines,
    calendar: WorkCalendar,
    visible: Callable[[Task], bool],
) -> StageOutcome:
    """A stage's row, its slip, the tasks it delivered and its deliverables."""
    delivered = (
        t
        for t in sorted(snapshot.tasks, key=key_order)
        if t.stage == stage.name and t.state == "done" and visible(t)
    )
    return StageOutcome(
        stage=stage_row(stage),
        late_days=slip_days(stage, calendar),
        delivered=Listing.of(map(lines.of, delivered), DELIVERED_PER_STAGE),
        deliverables=deliverable_lines(stage, snapshot.documents),
    )


def _figures(
    stages: Sequence[StageProgress],
    outcomes: Sequence[StageOutcome],
    timeline: Sequence[Snapshot],
    blocked: dict[str, int],
    calendar: WorkCalendar,
    completed: bool,
) -> ProjectFigures:
    """On-time stages, slips, time blocked and scope added, from the stages and the history."""
    slips = [o.late_days for o in outcomes if o.late_days is not None]
    dues = [s.due for s in stages if s.due is not None]
    finished = [s.completed_on for s in stages if s.completed_on is not None]
    finish_slip: int | None = None
    if completed and dues and finished:
        end, last = max(dues), max(finished)
        finish_slip = max(1, calendar.working_days_after(end, last)) if last > end else 0
    baseline = stage_baselines(timeline)
    final = {s.key: s.total for s in stages}
    return ProjectFigures(
        stages=len(stages),
        stages_done=sum(1 for s in stages if s.status == "done"),
        on_time=sum(1 for d in slips if d == 0),
        late=sum(1 for d in slips if d > 0),
        finish_slip=finish_slip,
        late_days=sum(slips),
        blocked_tasks=len(blocked),
        blocked_days=sum(blocked.values()),
        baseline=sum(baseline.get(key, total) for key, total in final.items()),
        scope_added=sum(max(0, total - baseline.get(key, total)) for key, total in final.items()),
    )


def blocked_days(timeline: Sequence[Snapshot], calendar: WorkCalendar) -> dict[str, int]:
    """Per task ever seen blocked (and not done), the working days it spent blocked.

    Between two syncs a task counts as blocked for the working days after the first up to and
    including the second when the first saw it blocked; blocked only in the latest snapshot, it
    counts 0 days so far but is still listed. `timeline` is oldest first.
    """
    days: dict[str, int] = {}
    for earlier, later in zip(timeline, [*timeline[1:], None], strict=True):
        start = calendar.local_date(earlier.as_of)
        end = calendar.local_date(later.as_of) if later is not None else start
        for task in earlier.tasks:
            if task.blocked and task.state != "done":
                days[task.key] = days.get(task.key, 0) + calendar.working_days_after(start, end)
    return days


def stage_baselines(timeline: Sequence[Snapshot]) -> dict[str, int]:
    """Each stage's task count in the first snapshot where it had any (SPEC §5's baseline)."""
    found: dict[str, int] = {}
    for snapshot in timeline:
        for stage in snapshot.stages:
            if stage.key not in found and stage.total > 0:
                found[stage.key] = stage.total
    return found


def is_problem_type(task: Task) -> bool:
    """A Bug, Problem, Incident, Impediment or 问题: a problem by nature (SPEC §7)."""
    return (task.type or "").strip().casefold() in PROBLEM_TYPES


def problem_line(task: Task, lines: TaskLines) -> ProblemLine:
    """A problem task, how it ended and its last comment."""
    return ProblemLine(
        task=lines.of(task),
        resolution=source_text(task.resolution) if task.resolution else None,
        done=task.state == "done",
        comment=source_text(task.last_comment) if task.last_comment else None,
    )


def slip_days(stage: StageProgress, calendar: WorkCalendar) -> int | None:
    """Working days after the due date up to and including the completion (at least 1 when
    late, 0 on time); None when the stage is not done or has no due date (SPEC §7)."""
    if stage.status != "done" or stage.due is None or stage.completed_on is None:
        return None
    if stage.completed_on <= stage.due:
        return 0
    return max(1, calendar.working_days_after(stage.due, stage.completed_on))


def deliverable_lines(
    stage: StageProgress, documents: Sequence[Document]
) -> tuple[DeliverableLine, ...]:
    """The stage's required documents, each with the shared file that delivers it (if any)."""
    lines = []
    for name in stage.required_docs:
        found = next((d for d in documents if name.casefold() in d.name.casefold()), None)
        lines.append(
            DeliverableLine(
                name=one_line(name),
                present=found is not None,
                document=source_text(found.name) if found else None,
                url=safe_url(found.url) if found else None,
            )
        )
    return tuple(lines)
