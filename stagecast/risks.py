"""Risk flags (SPEC §5): what a delivery lead wants to hear about before the client does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from natsort import natsort_keygen

from stagecast.calendar import WorkCalendar
from stagecast.models import (
    SEVERITY_RANK,
    Document,
    RiskFlag,
    Severity,
    StagePlan,
    StageProgress,
    Task,
)


@dataclass(frozen=True)
class RiskRules:
    """The thresholds of a project's `risk:` block."""

    stale_days: int = 7
    due_soon_days: int = 3
    scope_creep_pct: int = 20
    forecast_window_days: int = 10
    at_risk_horizon_days: int = 10


@dataclass(frozen=True)
class RiskInputs:
    """Everything the flags are computed from, at the evaluation date `today`."""

    today: date
    calendar: WorkCalendar
    rules: RiskRules
    tasks: Sequence[Task]
    stages: Sequence[StageProgress]
    plans: Sequence[StagePlan]
    documents: Sequence[Document]
    baselines: Mapping[str, int]
    failed_sources: Mapping[str, str]


_natural = natsort_keygen()


def sort_risks(flags: Iterable[RiskFlag]) -> list[RiskFlag]:
    """High before medium, then subject in natural order (PORTAL-9 before PORTAL-12), then code."""
    return sorted(flags, key=lambda f: (SEVERITY_RANK[f.severity], _natural(f.subject), f.code))


def raise_flags(inputs: RiskInputs) -> list[RiskFlag]:
    """All flags that hold at `inputs.today`, in report order."""
    flags: list[RiskFlag] = []
    for task in inputs.tasks:
        flags.extend(_task_flags(task, inputs))
    flags.extend(_stage_flags(inputs))
    flags.extend(_deliverable_flags(inputs))
    flags.extend(
        _said(RiskFlag("source_unavailable", "high", name, None, error=error))
        for name, error in inputs.failed_sources.items()
    )
    return sort_risks(flags)


def english_detail(flag: RiskFlag) -> str:
    """The flag's facts as the English sentence of the JSON output (SPEC §10), said here only.

    A flag without the facts its code needs (stored before flags carried them) keeps the
    sentence it was stored with.
    """
    f = flag
    match f.code:
        case "overdue" if f.due is not None and f.days is not None:
            return f"due {f.due}, {_days(f.days)} ago"
        case "blocked" if _known(f.status):
            return f"blocked ({f.status})"
        case "stale" if f.days is not None:
            return f"no update for {_days(f.days)}"
        case "unassigned" if _known(f.due):
            return f"due {f.due}, nobody assigned"
        case "stage_late" if _known(f.due, f.remaining, f.total):
            return f"due {f.due}, {f.remaining} of {f.total} tasks remain"
        case "stage_at_risk" if _known(f.due, f.forecast):
            return f"forecast {f.forecast} is after the due date {f.due}"
        case "stage_at_risk" if _known(f.due, f.remaining):
            return f"due {f.due} with {f.remaining} tasks open and none done lately"
        case "scope_creep" if _known(f.total, f.baseline, f.growth_pct):
            return f"{f.total} tasks against a baseline of {f.baseline} (+{f.growth_pct}%)"
        case "missing_deliverable" if _known(f.document):
            return f"'{f.document}' is not in the Drive folder"
        case "source_unavailable" if _known(f.error):
            return f"{f.subject} failed: {f.error}"
    return f.detail


def _known(*facts: object) -> bool:
    """Whether every fact a sentence needs is there."""
    return all(fact is not None for fact in facts)


def _said(flag: RiskFlag) -> RiskFlag:
    """The flag with its English detail said from its facts, so the two cannot disagree.

    Made by the constructor rather than `dataclasses.replace`, which costs twice as much: a
    large project raises thousands of task flags.
    """
    return RiskFlag(**{**flag.__dict__, "detail": english_detail(flag)})


def _task_flags(task: Task, inputs: RiskInputs) -> list[RiskFlag]:
    """overdue, blocked, stale and unassigned for one task."""
    if task.state == "done":
        return []
    today, rules, cal = inputs.today, inputs.rules, inputs.calendar
    due = cal.local_date(task.due) if task.due is not None else None
    flags: list[RiskFlag] = []
    if due is not None and due < today:
        flags.append(_task_flag("overdue", "high", task, due=due, days=(today - due).days))
    if task.blocked:
        flags.append(_task_flag("blocked", "high", task, status=task.status, due=due))
    if task.state == "in_progress" and task.updated is not None:
        idle = (today - cal.local_date(task.updated)).days
        if idle > rules.stale_days:
            flags.append(_task_flag("stale", "medium", task, days=idle))
    soon = today + timedelta(days=rules.due_soon_days)
    if task.assignee is None and due is not None and today <= due <= soon:
        flags.append(_task_flag("unassigned", "medium", task, due=due))
    return flags


def _task_flag(
    code: str,
    severity: Severity,
    task: Task,
    *,
    due: date | None = None,
    days: int | None = None,
    status: str | None = None,
) -> RiskFlag:
    """A flag whose subject is the task's key, with the facts of a task flag."""
    flag = RiskFlag(code, severity, task.key, task.stage, due=due, days=days, status=status)
    return _said(flag)


def _days(n: int) -> str:
    """'1 day' / '3 days'."""
    return f"{n} day" if n == 1 else f"{n} days"


def _stage_flags(inputs: RiskInputs) -> list[RiskFlag]:
    """stage_late, stage_at_risk and scope_creep."""
    flags: list[RiskFlag] = []
    for stage in inputs.stages:
        if stage.status == "late":
            flags.append(_stage_flag("stage_late", stage))
        elif stage.status == "at_risk":
            flags.append(_stage_flag("stage_at_risk", stage))
        creep = _scope_creep(stage, inputs)
        if creep:
            flags.append(creep)
    return flags


def _stage_flag(code: str, stage: StageProgress) -> RiskFlag:
    """A late or at-risk stage, with what a reader weighs it by: the due date against the
    work left, and the forecast (None when there is no pace to forecast from)."""
    flag = RiskFlag(
        code,
        "high",
        stage.name,
        stage.name,
        due=stage.due,
        remaining=stage.total - stage.done,
        total=stage.total,
        forecast=stage.forecast,
    )
    return _said(flag)


def _scope_creep(stage: StageProgress, inputs: RiskInputs) -> RiskFlag | None:
    """A stage grown past its baseline by more than the allowed percentage."""
    baseline = inputs.baselines.get(stage.key, stage.total)
    pct = inputs.rules.scope_creep_pct
    if baseline <= 0 or 100 * stage.total <= (100 + pct) * baseline:
        return None
    grown = 100 * (stage.total - baseline) // baseline
    flag = RiskFlag(
        "scope_creep",
        "medium",
        stage.name,
        stage.name,
        total=stage.total,
        baseline=baseline,
        growth_pct=grown,
    )
    return _said(flag)


class _Names:
    """The Drive folder's file names, asked whether any contains a required name
    (case-insensitive): one search of their joined text, not a loop over every file for every
    required document."""

    # A wanted name without the separator can only match inside one file name.
    _SEPARATOR = "\n"

    def __init__(self, names: Iterable[str]) -> None:
        self._names = [name.casefold() for name in names]
        self._joined = self._SEPARATOR.join(self._names)

    def __contains__(self, wanted: str) -> bool:
        part = wanted.casefold()
        if not self._names:
            return False
        if self._SEPARATOR in part:  # a config value could hold one: ask name by name
            return any(part in name for name in self._names)
        return part in self._joined


def _deliverable_flags(inputs: RiskInputs) -> list[RiskFlag]:
    """Required documents missing from Drive for stages that are done or nearly due."""
    status = {s.key: s for s in inputs.stages}
    soon = inputs.today + timedelta(days=inputs.rules.due_soon_days)
    names = _Names(d.name for d in inputs.documents)
    flags: list[RiskFlag] = []
    for plan in inputs.plans:
        stage = status.get(plan.key)
        done = stage is not None and stage.status == "done"
        if not (done or (plan.due is not None and plan.due <= soon)):
            continue
        for doc in plan.required_docs:
            if doc not in names:
                severity: Severity = "high" if done else "medium"
                subject = f"{plan.name}/{doc}"
                flag = RiskFlag("missing_deliverable", severity, subject, plan.name, document=doc)
                flags.append(_said(flag))
    return flags
