"""The `--json` document (SPEC §10): one shape for every command that reports on projects."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from typing import Any

from stagecast.models import Event, RiskFlag, Snapshot, StageProgress


@dataclass(frozen=True)
class ProjectRun:
    """One project's part of a command's result."""

    snapshot: Snapshot
    events: Sequence[Event] = ()
    deliveries: Sequence[dict[str, Any]] = field(default_factory=list)


def _moment(value: datetime | None, tz: tzinfo) -> str | None:
    """A moment in the top-level timezone, with its offset."""
    return value.astimezone(tz).isoformat() if value is not None else None


def _day(value: date | None) -> str | None:
    """A local date as ISO 8601."""
    return value.isoformat() if value is not None else None


def stage_json(stage: StageProgress) -> dict[str, Any]:
    """A stage as the SPEC's JSON shows it."""
    return {
        "name": stage.name,
        "key": stage.key,
        "due": _day(stage.due),
        "total": stage.total,
        "done": stage.done,
        "ratio": stage.ratio,
        "throughput": stage.throughput,
        "forecast": _day(stage.forecast),
        "status": stage.status,
    }


def risk_json(flag: RiskFlag) -> dict[str, Any]:
    """A risk flag as the SPEC's JSON shows it."""
    return {
        "code": flag.code,
        "severity": flag.severity,
        "subject": flag.subject,
        "stage": flag.stage,
        "detail": flag.detail,
    }


def event_json(event: Event) -> dict[str, Any]:
    """An event's type and what it is about (the project is implied by its place)."""
    about = {k: v for k, v in event.payload.items() if k != "project"}
    return {"type": event.type, "id": event.id, **about}


def project_json(run: ProjectRun, tz: tzinfo) -> dict[str, Any]:
    """One project: sources, progress, stages, risks, events, deliveries."""
    snap = run.snapshot
    return {
        "key": snap.project,
        "sources": [
            {
                "name": s.name,
                "type": s.type,
                "ok": s.ok,
                "tasks": s.tasks,
                "error": s.error,
                "last_ok": _moment(s.last_ok, tz),
            }
            for s in snap.sources
        ],
        "progress": {
            "total": snap.progress.total,
            "done": snap.progress.done,
            "ratio": snap.progress.ratio,
        },
        "stages": [stage_json(s) for s in snap.stages],
        "risks": [risk_json(r) for r in snap.risks],
        "events": [event_json(e) for e in run.events],
        "deliveries": list(run.deliveries),
    }


def run_json(as_of: datetime, runs: Sequence[ProjectRun], tz: tzinfo) -> dict[str, Any]:
    """The whole document for one command."""
    return {"as_of": _moment(as_of, tz), "projects": [project_json(r, tz) for r in runs]}
