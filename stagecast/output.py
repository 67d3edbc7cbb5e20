"""The `--json` document (SPEC §10): one shape for every command that reports on projects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, tzinfo
from typing import Any

from stagecast.ledger import DeliveryOutcome
from stagecast.models import Event, RiskFlag, Snapshot, StageProgress


def undelivered(outcome: DeliveryOutcome) -> str:
    """Why a report did not reach its channel, in one line."""
    reason = f": {outcome.error}" if outcome.error else ""
    return f"{outcome.report} to {outcome.channel} {outcome.status}{reason}"


def figures_only(snapshot: Snapshot) -> Snapshot:
    """The snapshot without its tasks, documents and minutes: the figures a run's result
    shows (stages, progress, risks, sources), at a fraction of the memory."""
    return replace(snapshot, tasks=(), documents=(), minutes=())


@dataclass(frozen=True)
class ProjectRun:
    """One project's part of a run's result: its snapshot, new events and deliveries."""

    snapshot: Snapshot
    events: Sequence[Event] = ()
    deliveries: Sequence[DeliveryOutcome] = field(default_factory=tuple)

    @property
    def sources_ok(self) -> bool:
        return all(s.ok for s in self.snapshot.sources)

    @property
    def problems(self) -> list[str]:
        """Why this project's run did not fully succeed: failing sources, undelivered reports."""
        sources = self.snapshot.sources
        failing = [f"source {s.name} unavailable: {s.error}" for s in sources if not s.ok]
        return failing + [undelivered(d) for d in self.deliveries if d.bad]


@dataclass(frozen=True)
class RunResult:
    """What a sync or report run did, per project, at one moment."""

    as_of: datetime
    projects: Sequence[ProjectRun]

    @property
    def problems(self) -> list[str]:
        return [f"{p.snapshot.project}: {why}" for p in self.projects for why in p.problems]


@dataclass(frozen=True)
class PendingRun:
    """What `deliver-pending` did at one moment."""

    as_of: datetime
    deliveries: Sequence[DeliveryOutcome]

    @property
    def problems(self) -> list[str]:
        return [f"{d.project}: {undelivered(d)}" for d in self.deliveries if d.bad]


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


def delivery_json(outcome: DeliveryOutcome, tz: tzinfo) -> dict[str, Any]:
    """A delivery as the SPEC's JSON shows it; `not_before` in the client's timezone."""
    shown = {
        "id": outcome.id,
        "report": outcome.report,
        "channel": outcome.channel,
        "status": outcome.status,
        "not_before": _moment(outcome.not_before, tz),
    }
    return shown if outcome.preview is None else {**shown, "preview": outcome.preview}


def event_json(event: Event) -> dict[str, Any]:
    """An event's type and what it is about (the project is implied by its place)."""
    about = {k: v for k, v in event.payload.items() if k != "project"}
    return {"type": event.type, "id": event.id, **about}


def project_json(run: ProjectRun, tz: tzinfo, client_tz: tzinfo | None = None) -> dict[str, Any]:
    """One project: sources, progress, stages, risks, events, deliveries.

    Moments are in the top-level zone `tz`, except deliveries' `not_before`, which is in the
    client's own zone (`client_tz`): it is the start of the client's working window.
    """
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
        "deliveries": [delivery_json(d, client_tz or tz) for d in run.deliveries],
    }


def run_json(
    result: RunResult, tz: tzinfo, zones: Mapping[str, tzinfo] | None = None
) -> dict[str, Any]:
    """The whole document for one command; `zones` maps project keys to their timezones."""
    zones = zones or {}
    return {
        "as_of": _moment(result.as_of, tz),
        "projects": [project_json(r, tz, zones.get(r.snapshot.project)) for r in result.projects],
    }


def pending_json(
    result: PendingRun, tz: tzinfo, zones: Mapping[str, tzinfo] | None = None
) -> dict[str, Any]:
    """The `deliver-pending --json` document."""
    zones = zones or {}
    return {
        "as_of": _moment(result.as_of, tz),
        "deliveries": [delivery_json(d, zones.get(d.project, tz)) for d in result.deliveries],
    }
