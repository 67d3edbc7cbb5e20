"""The stage report (SPEC §7): planned vs actual, delivered scope, problems met and how they
were solved, decisions, deliverables, risks carried forward, the next stage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from stagecast.calendar import WorkCalendar
from stagecast.config import ProjectConfig
from stagecast.models import Document, Snapshot, StageProgress, Task
from stagecast.reports.context.action_items import ActionItemLine, open_action_items
from stagecast.reports.context.common import (
    Audience,
    DecisionLine,
    Listing,
    RiskLine,
    RiskLines,
    StageRow,
    TaskLine,
    TaskLines,
    audience_sees,
    decision_line,
    header,
    is_internal,
    key_order,
    stage_row,
    tasks_by_key,
)
from stagecast.reports.context.problems import PROBLEM_TYPES as PROBLEM_TYPES
from stagecast.reports.context.problems import ProblemLine as ProblemLine
from stagecast.reports.context.problems import (
    RiskEpisodeLine,
    SlipLines,
    stage_problems,
    stage_span,
)
from stagecast.reports.escape import one_line, safe_url, source_text
from stagecast.risks import sort_risks

Day = date

# The next stage's open tasks a stage report shows: a glimpse of its scope, not the backlog.
NEXT_STAGE_LIMIT = 5


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

    Problems met: `problems` (tasks of a problem type or blocked during the span),
    `risks_met` (every risk raised about the stage in the snapshots, when, and how it was
    cleared), `slip` (what drove the slip of a late stage; None otherwise). `no_problems` is
    the only ground for saying no problems were met: on time and never a risk nor a problem
    task. `problems_internal_only`: there were some, but none this audience may see.
    `action_items` are the open ones of the minutes dated in the span.
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
    risks_met: Listing[RiskEpisodeLine]
    slip: SlipLines | None
    no_problems: bool
    problems_internal_only: bool
    decisions: tuple[DecisionLine, ...]
    action_items: Listing[ActionItemLine]
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
    (any order): the risks the stage met, the tasks blocked and added during it."""
    order = [s.key for s in snapshot.stages]
    if stage_key not in order:
        raise KeyError(stage_key)
    index = order.index(stage_key)
    progress = snapshot.stages[index]
    client = audience == "client"
    today = calendar.local_date(snapshot.as_of)
    lines = TaskLines(calendar, show_names=not client)
    by_key = tasks_by_key(snapshot.tasks)

    def visible(task: Task) -> bool:
        return not (client and is_internal(task))

    own = sorted((t for t in snapshot.tasks if t.stage == progress.name), key=key_order)
    completed = progress.status == "done" and progress.completed_on is not None
    span_start, span_end = stage_span(snapshot, stage_key, calendar)

    def in_span(moment: date) -> bool:
        return (span_start is None or span_start <= moment) and moment <= span_end

    met = stage_problems(snapshot, stage_key, history, audience=audience, calendar=calendar)

    decisions = sorted(
        (
            m
            for m in snapshot.minutes
            if m.kind == "decision" and (m.date is None or in_span(m.date))
        ),
        key=lambda m: (m.date is None, m.date or date.min),
    )

    risk_lines = RiskLines(lines, by_key)
    carried = [
        f
        for f in snapshot.risks
        if f.stage != progress.name
        and f.subject != progress.name
        and audience_sees(f, client, by_key)
    ]

    next_stage: NextStage | None = None
    if index + 1 < len(snapshot.stages):
        following = snapshot.stages[index + 1]
        open_tasks = (
            t
            for t in sorted(snapshot.tasks, key=key_order)
            if t.stage == following.name and t.state != "done" and visible(t)
        )
        next_stage = NextStage(
            stage_row(following), Listing.of(map(lines.of, open_tasks), NEXT_STAGE_LIMIT)
        )

    return StageReport(
        **header(
            project,
            snapshot,
            audience=audience,
            language=language,
            calendar=calendar,
            period=stage_key if completed else f"{stage_key}@{today.isoformat()}",
        ),
        stage=stage_row(progress),
        completed=completed,
        late_days=slip_days(progress, calendar),
        span_start=span_start,
        span_end=span_end,
        delivered=Listing.of(lines.of(t) for t in own if t.state == "done" and visible(t)),
        problems=met.problems,
        risks_met=met.risks,
        slip=met.slip,
        no_problems=met.no_problems,
        problems_internal_only=met.internal_only,
        decisions=tuple(map(decision_line, decisions)),
        action_items=open_action_items(
            snapshot.minutes, today=today, show_names=not client, since=span_start, until=span_end
        ),
        deliverables=deliverable_lines(progress, snapshot.documents),
        risks=tuple(risk_lines.of(f) for f in sort_risks(carried)),
        next_stage=next_stage,
        show_assignees=not client,
        show_task_links=not client,
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
    """The stage's required documents, each with the shared file that delivers it (if any):
    a file whose name contains the required name, case-insensitive (SPEC §5)."""
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
