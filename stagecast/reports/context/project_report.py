"""The project wrap-up (SPEC §7): every stage planned vs actual with its slip, what each stage
delivered, the project's problems and how each was solved, the decisions log, the deliverables,
the figures a client values, and the open items handed over."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from stagecast.calendar import WorkCalendar
from stagecast.config import ProjectConfig
from stagecast.models import Snapshot, StageProgress, Task
from stagecast.reports.context.action_items import ActionItemLine, open_action_items
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
from stagecast.reports.context.problems import (
    ProblemLine,
    RiskEpisodeLine,
    stage_problems,
)
from stagecast.reports.context.stage_report import (
    DeliverableLine,
    deliverable_lines,
    slip_days,
)
from stagecast.risks import sort_risks
from stagecast.stage_history import blocked_tasks, scope_growth

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
class StageTrouble:
    """What one stage met: its problem tasks and how each ended, and the risks raised and
    cleared during it (as the stage report tells them). `internal_only` when it met
    problems this audience may not see."""

    stage: StageRow
    problems: tuple[ProblemLine, ...]
    risks: Listing[RiskEpisodeLine]
    internal_only: bool


@dataclass(frozen=True)
class ProjectFigures:
    """The numbers a client remembers of a project.

    `finish_slip` is the working days the last completion came after the last due date (0 on
    time; None while stages are open or none has a due date). `blocked_days` adds up, over
    the stages' tasks, the working days each was seen blocked. `scope_added` is the tasks each
    stage gained after its baseline (its count in the first snapshot that had any), as the
    stage report counts them.
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
    troubles: tuple[StageTrouble, ...]
    no_problems: bool
    decisions: tuple[DecisionLine, ...]
    open_tasks: Listing[TaskLine]
    open_risks: tuple[RiskLine, ...]
    action_items: Listing[ActionItemLine]
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

    def visible(task: Task) -> bool:
        return not (client and is_internal(task))

    stages = snapshot.stages
    completed = bool(stages) and all(s.status == "done" for s in stages)
    outcomes = tuple(_outcome(s, snapshot, lines, calendar, visible) for s in stages)
    met = {
        s.key: stage_problems(snapshot, s.key, history, audience=audience, calendar=calendar)
        for s in stages
    }
    troubles = tuple(
        StageTrouble(stage_row(s), m.problems, m.risks, m.internal_only)
        for s in stages
        if (m := met[s.key]).problems or m.risks or m.internal_only
    )
    created = [calendar.local_date(t.created) for t in snapshot.tasks if t.created is not None]
    finished = [s.completed_on for s in stages if s.completed_on is not None]
    dues = [s.due for s in stages if s.due is not None]
    open_tasks = (t for t in sorted(snapshot.tasks, key=key_order) if t.state != "done")
    risk_lines = RiskLines(lines, by_key)
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
        figures=_figures(snapshot, history, outcomes, calendar, completed),
        stages=outcomes,
        troubles=troubles,
        no_problems=all(m.no_problems for m in met.values()),
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
        action_items=open_action_items(snapshot.minutes, today=today, show_names=not client),
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
    snapshot: Snapshot,
    history: Sequence[Snapshot],
    outcomes: Sequence[StageOutcome],
    calendar: WorkCalendar,
    completed: bool,
) -> ProjectFigures:
    """On-time stages, slips, time blocked and scope added, from the stages and the history."""
    stages = snapshot.stages
    slips = [o.late_days for o in outcomes if o.late_days is not None]
    dues = [s.due for s in stages if s.due is not None]
    finished = [s.completed_on for s in stages if s.completed_on is not None]
    finish_slip: int | None = None
    if completed and dues and finished:
        end, last = max(dues), max(finished)
        finish_slip = max(1, calendar.working_days_after(end, last)) if last > end else 0
    blocked = [b for s in stages for b in blocked_tasks(snapshot, s.name, history, calendar)]
    scope = [scope_growth(snapshot, s.name, history, calendar) for s in stages]
    return ProjectFigures(
        stages=len(stages),
        stages_done=sum(1 for s in stages if s.status == "done"),
        on_time=sum(1 for d in slips if d == 0),
        late=sum(1 for d in slips if d > 0),
        finish_slip=finish_slip,
        late_days=sum(slips),
        blocked_tasks=len(blocked),
        blocked_days=sum(b.days for b in blocked),
        baseline=sum(g.baseline for g in scope),
        scope_added=sum(len(g.added) for g in scope),
    )
