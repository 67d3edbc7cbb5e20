"""From what the sources returned to a computed snapshot: the whole of SPEC §3–5 in one place.

The connectors fetch and the flows store; this module only decides. A source that failed this
run is represented by its last good data, carried forward from the previous snapshot.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from stagecast.calendar import WorkCalendar
from stagecast.config import ProjectConfig
from stagecast.models import (
    Document,
    MinuteItem,
    Snapshot,
    SourcePull,
    SourceStatus,
    StagePlan,
    StageProgress,
    Task,
)
from stagecast.progress import project_progress, stage_progress
from stagecast.risks import RiskInputs, RiskRules, raise_flags
from stagecast.stages import assign_stages, discover_stages


@dataclass(frozen=True)
class SourceOutcome:
    """One source's result this run: its pull, or the error that made it unavailable."""

    name: str
    type: str
    pull: SourcePull | None
    error: str | None
    last_ok: datetime | None


def calendar_for(project: ProjectConfig) -> WorkCalendar:
    """The project's calendar from its `calendar:` block and timezone."""
    cal = project.calendar
    return WorkCalendar(
        project.tz,
        cal.workdays,
        country=cal.country,
        holidays=cal.holidays,
        workday_overrides=cal.workday_overrides,
        hours=(cal.start, cal.end),
    )


def rules_for(project: ProjectConfig) -> RiskRules:
    """The project's risk thresholds as plain data."""
    return RiskRules(**project.risk.model_dump())


def plan_stages(
    project: ProjectConfig,
    tasks: Sequence[Task],
    stage_dues: Mapping[str, date],
    carried: Mapping[str, date] | None = None,
) -> list[StagePlan]:
    """Configured stages (due from config, else from the source), or the discovered ones.

    `carried` holds the previous snapshot's due dates by stage name, for sources that did
    not report theirs this run (failed, or an incremental pull that saw no version).
    """
    carried = carried or {}
    if project.stages is None:
        return discover_stages(tasks, {**carried, **stage_dues})
    return [
        StagePlan(
            name=s.name,
            key=s.effective_key,
            match=s.effective_match,
            due=_first(s.due, stage_dues.get(s.effective_match), carried.get(s.name)),
            required_docs=tuple(s.required_docs),
        )
        for s in project.stages
    ]


_Item = TypeVar("_Item", Task, Document)


def _first(*dates: date | None) -> date | None:
    """The first date that is known."""
    return next((d for d in dates if d is not None), None)


def _carried_dues(outcomes: Sequence[SourceOutcome], previous: Snapshot | None) -> dict[str, date]:
    """Due dates of the previous stages, when some source could not report its own now."""
    partial = any(o.pull is None or not o.pull.complete for o in outcomes)
    if previous is None or not partial:
        return {}
    return {s.name: s.due for s in previous.stages if s.due is not None}


@dataclass(frozen=True)
class _Gathered:
    tasks: tuple[Task, ...]
    documents: tuple[Document, ...]
    minutes: tuple[MinuteItem, ...]
    stage_dues: dict[str, date]


def _gather(outcomes: Sequence[SourceOutcome], previous: Snapshot | None) -> _Gathered:
    """Fresh data from sources that answered; the last good data of those that did not."""
    tasks: list[Task] = []
    documents: list[Document] = []
    minutes: list[MinuteItem] = []
    stage_dues: dict[str, date] = {}
    earlier = _previous_by_source(previous)
    for outcome in outcomes:
        before = earlier.get(outcome.name, _NOTHING)
        pull = outcome.pull
        if pull is None:
            tasks.extend(before.tasks)
            documents.extend(before.documents)
            minutes.extend(before.minutes)
            continue
        if pull.complete:
            tasks.extend(pull.tasks)
            documents.extend(pull.documents)
        else:
            tasks.extend(_merge(before.tasks, pull.tasks, pull.removed))
            documents.extend(_merge(before.documents, pull.documents, pull.removed))
        minutes.extend(pull.minutes if pull.complete or pull.minutes else before.minutes)
        for value, due in pull.stage_dues.items():
            stage_dues.setdefault(value, due)
    return _Gathered(tuple(tasks), tuple(documents), tuple(minutes), stage_dues)


_NOTHING = _Gathered((), (), (), {})


def _previous_by_source(previous: Snapshot | None) -> dict[str, _Gathered]:
    """What the previous snapshot held from each source, in its order: one pass over it,
    not one per source."""
    if previous is None:
        return {}
    tasks: dict[str, list[Task]] = defaultdict(list)
    documents: dict[str, list[Document]] = defaultdict(list)
    minutes: dict[str, list[MinuteItem]] = defaultdict(list)
    for task in previous.tasks:
        tasks[task.source].append(task)
    for document in previous.documents:
        documents[document.source].append(document)
    for minute in previous.minutes:
        minutes[minute.source].append(minute)
    return {
        name: _Gathered(tuple(tasks[name]), tuple(documents[name]), tuple(minutes[name]), {})
        for name in {*tasks, *documents, *minutes}
    }


def _merge(
    before: Sequence[_Item], changed: Sequence[_Item], removed: Sequence[str]
) -> list[_Item]:
    """Lay an incremental pull over the last good data: changes in place, new after, removed out."""
    fresh = {item.id: item for item in changed}
    gone = set(removed)
    kept = [fresh.pop(item.id, item) for item in before if item.id not in gone]
    return kept + [item for item in changed if item.id in fresh and item.id not in gone]


def _statuses(outcomes: Sequence[SourceOutcome], tasks: Sequence[Task]) -> tuple[SourceStatus, ...]:
    """What the JSON says of each source: fresh or not, how many tasks, when last good."""
    counts = Counter(t.source for t in tasks)
    return tuple(
        SourceStatus(
            name=o.name,
            type=o.type,
            ok=o.pull is not None,
            tasks=counts[o.name],
            error=o.error,
            last_ok=o.last_ok,
            documents=len(o.pull.documents) if o.pull else 0,
        )
        for o in outcomes
    )


def evaluate(
    project: ProjectConfig,
    as_of: datetime,
    outcomes: Sequence[SourceOutcome],
    previous: Snapshot | None,
    baselines: Mapping[str, int],
) -> Snapshot:
    """Compute the project's snapshot at `as_of` from this run's source outcomes."""
    calendar = calendar_for(project)
    rules = rules_for(project)
    today = calendar.local_date(as_of)
    gathered = _gather(outcomes, previous)
    carried = _carried_dues(outcomes, previous)
    plans = plan_stages(project, gathered.tasks, gathered.stage_dues, carried)
    tasks = assign_stages(gathered.tasks, plans, configured=project.stages is not None)
    stages = _stage_figures(plans, tasks, calendar, today, rules)
    risks = raise_flags(
        RiskInputs(
            today=today,
            calendar=calendar,
            rules=rules,
            tasks=tasks,
            stages=stages,
            plans=plans,
            documents=gathered.documents,
            baselines=baselines,
            failed_sources={o.name: o.error or "unavailable" for o in outcomes if o.pull is None},
        )
    )
    return Snapshot(
        project=project.key,
        as_of=as_of,
        tasks=tasks,
        documents=gathered.documents,
        minutes=gathered.minutes,
        sources=_statuses(outcomes, tasks),
        stages=stages,
        progress=project_progress(tasks),
        risks=tuple(risks),
    )


def _stage_figures(
    plans: Sequence[StagePlan],
    tasks: Sequence[Task],
    calendar: WorkCalendar,
    today: date,
    rules: RiskRules,
) -> tuple[StageProgress, ...]:
    """Each stage's progress from the tasks assigned to it (grouped in one pass)."""
    staged: dict[str | None, list[Task]] = defaultdict(list)
    for task in tasks:
        staged[task.stage].append(task)
    return tuple(
        stage_progress(
            plan,
            staged.get(plan.name, []),
            calendar,
            today,
            rules.forecast_window_days,
            rules.at_risk_horizon_days,
        )
        for plan in plans
    )
