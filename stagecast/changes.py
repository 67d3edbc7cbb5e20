"""What changed between two snapshots, and the events that implies (SPEC §6)."""

from __future__ import annotations

import uuid
from datetime import UTC

from stagecast.models import Changes, Event, RiskFlag, Snapshot, StatusChange, Task

# Event ids are uuid5 of what they report, so one transition can never start two runs.
_EVENT_NAMESPACE = uuid.UUID("5f0c4c1e-7a52-4d3e-9a61-3c2b8e9d0a11")

STAGE_COMPLETED = "stagecast.stage.completed"
RISK_RAISED = "stagecast.risk.raised"
PROJECT_COMPLETED = "stagecast.project.completed"


def _task_id(task: Task) -> tuple[str, str]:
    """Tasks are the same across snapshots when source and vendor id agree."""
    return (task.source, task.id)


def compare(previous: Snapshot | None, current: Snapshot) -> Changes:
    """Changes against the previous snapshot; none at all for a project's first snapshot."""
    if previous is None:
        return Changes()
    before = {_task_id(t): t for t in previous.tasks}
    added, newly_done, newly_blocked, unblocked = [], [], [], []
    for task in current.tasks:
        old = before.get(_task_id(task))
        if old is None:
            added.append(task.key)
        if task.state == "done" and (old is None or old.state != "done"):
            newly_done.append(task.key)
        if task.blocked and task.state != "done" and (old is None or not old.blocked):
            newly_blocked.append(task.key)
        if old is not None and old.blocked and not task.blocked:
            unblocked.append(task.key)
    return Changes(
        added=tuple(added),
        newly_done=tuple(newly_done),
        newly_blocked=tuple(newly_blocked),
        unblocked=tuple(unblocked),
        risks_raised=_risks_only_in(current.risks, previous.risks),
        risks_resolved=_risks_only_in(previous.risks, current.risks),
        stage_changes=_stage_changes(previous, current),
    )


def _risks_only_in(
    ours: tuple[RiskFlag, ...], theirs: tuple[RiskFlag, ...]
) -> tuple[RiskFlag, ...]:
    """Flags in `ours` whose (code, subject) is not in `theirs`."""
    known = {f.ident for f in theirs}
    return tuple(f for f in ours if f.ident not in known)


def _stage_changes(previous: Snapshot, current: Snapshot) -> tuple[StatusChange, ...]:
    """Stages whose status moved, including stages that appeared."""
    before = {s.key: s.status for s in previous.stages}
    return tuple(
        StatusChange(stage=s.name, key=s.key, before=before.get(s.key), after=s.status)
        for s in current.stages
        if before.get(s.key) != s.status
    )


def events_for(current: Snapshot, changes: Changes) -> list[Event]:
    """Stage completions, the project's completion and newly raised risks, each with an id
    stable for the transition.

    The project completes when the last of its stages to finish enters `done`: a stage
    completing while another is still open (even the final one in plan order) starts no wrap-up,
    since the project still has work to hand over.
    """
    project = current.project
    stamp = current.as_of.astimezone(UTC).isoformat()
    events = [
        Event(
            id=_event_id(project, "stage", change.key, stamp),
            type=STAGE_COMPLETED,
            resource=f"stagecast.project.{project}.stage.{change.key}",
            payload={"project": project, "stage": change.stage},
        )
        for change in changes.stage_changes
        if change.after == "done"
    ]
    if events and all(s.status == "done" for s in current.stages):
        events.append(
            Event(
                id=_event_id(project, "project", "completed", stamp),
                type=PROJECT_COMPLETED,
                resource=f"stagecast.project.{project}",
                payload={"project": project},
            )
        )
    events.extend(
        Event(
            id=_event_id(project, "risk", f"{flag.code}:{flag.subject}", stamp),
            type=RISK_RAISED,
            resource=f"stagecast.project.{project}",
            payload={
                "project": project,
                "code": flag.code,
                "severity": flag.severity,
                "subject": flag.subject,
            },
            labels={"stagecast.risk.severity": flag.severity, "stagecast.risk.code": flag.code},
        )
        for flag in changes.risks_raised
    )
    return events


def _event_id(project: str, kind: str, subject: str, stamp: str) -> str:
    """Derived from what the event reports and the snapshot it came from."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{project}|{kind}|{subject}|{stamp}"))
