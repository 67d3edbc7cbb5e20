"""Risk flags (SPEC §5): what a delivery lead wants to hear about before the client does."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from natsort import natsort_keygen

from stagecast.calendar import WorkCalendar
from stagecast.models import SEVERITY_RANK, Document, RiskFlag, StagePlan, StageProgress, Task


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
        RiskFlag("source_unavailable", "high", name, None, f"{name} failed: {error}")
        for name, error in inputs.failed_sources.items()
    )
    return sort_risks(flags)


def _task_flags(task: Task, inputs: RiskInputs) -> list[RiskFlag]:
    """overdue, blocked, stale and unassigned for one task."""
    if task.state == "done":
        return []
    today, rules, cal = inputs.today, inputs.rules, inputs.calendar
    due = cal.local_date(task.due) if task.due is not None else None
    flags: list[RiskFlag] = []
    if due is not None and due < today:
        days = (today - due).days
        flags.append(_task_flag("overdue", "high", task, f"due {due}, {_days(days)} ago"))
    if task.blocked:
        flags.append(_task_flag("blocked", "high", task, f"blocked ({task.status})"))
    if task.state == "in_progress" and task.updated is not None:
        idle = (today - cal.local_date(task.updated)).days
        if idle > rules.stale_days:
            flags.append(_task_flag("stale", "medium", task, f"no update for {_days(idle)}"))
    soon = today + timedelta(days=rules.due_soon_days)
    if task.assignee is None and due is not None and today <= due <= soon:
        flags.append(_task_flag("unassigned", "medium", task, f"due {due}, nobody assigned"))
    return flags


def _task_flag(code: str, severity: str, task: Task, detail: str) -> RiskFlag:
    """A flag whose subject is the task's key."""
    return RiskFlag(code, severity, task.key, task.stage, detail)  # type: ignore[arg-type]


def _days(n: int) -> str:
    """'1 day' / '3 days'."""
    return f"{n} day" if n == 1 else f"{n} days"


def _stage_flags(inputs: RiskInputs) -> list[RiskFlag]:
    """stage_late, stage_at_risk and scope_creep."""
    flags: list[RiskFlag] = []
    for stage in inputs.stages:
        remaining = stage.total - stage.done
        if stage.status == "late":
            detail = f"due {stage.due}, {remaining} of {stage.total} tasks remain"
            flags.append(RiskFlag("stage_late", "high", stage.name, stage.name, detail))
        elif stage.status == "at_risk":
            flags.append(RiskFlag("stage_at_risk", "high", stage.name, stage.name, _at_risk(stage)))
        creep = _scope_creep(stage, inputs)
        if creep:
            flags.append(creep)
    return flags


def _at_risk(stage: StageProgress) -> str:
    """Why an at-risk stage is at risk: a late forecast, or no pace to forecast from."""
    if stage.forecast is not None:
        return f"forecast {stage.forecast} is after the due date {stage.due}"
    return f"due {stage.due} with {stage.total - stage.done} tasks open and none done lately"


def _scope_creep(stage: StageProgress, inputs: RiskInputs) -> RiskFlag | None:
    """A stage grown past its baseline by more than the allowed percentage."""
    baseline = inputs.baselines.get(stage.key, stage.total)
    pct = inputs.rules.scope_creep_pct
    if baseline <= 0 or 100 * stage.total <= (100 + pct) * baseline:
        return None
    grown = 100 * (stage.total - baseline) // baseline
    detail = f"{stage.total} tasks against a baseline of {baseline} (+{grown}%)"
    return RiskFlag("scope_creep", "medium", stage.name, stage.name, detail)


def _deliverable_flags(inputs: RiskInputs) -> list[RiskFlag]:
    """Required documents missing from Drive for stages that are done or nearly due."""
    status = {s.key: s for s in inputs.stages}
    soon = inputs.today + timedelta(days=inputs.rules.due_soon_days)
    names = [d.name.casefold() for d in inputs.documents]
    flags: list[RiskFlag] = []
    for plan in inputs.plans:
        stage = status.get(plan.key)
        done = stage is not None and stage.status == "done"
        if not (done or (plan.due is not None and plan.due <= soon)):
            continue
        for doc in plan.required_docs:
            if not any(doc.casefold() in name for name in names):
                severity = "high" if done else "medium"
                detail = f"'{doc}' is not in the Drive folder"
                subject = f"{plan.name}/{doc}"
                flags.append(RiskFlag("missing_deliverable", severity, subject, plan.name, detail))  # type: ignore[arg-type]
    return flags
