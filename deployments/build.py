"""The config-derived part of the deployments: schedules, triggers and parameters per project.

- `sync`: every `sync.every_minutes`, one schedule per interval and timezone for all the
  projects that share them (slug `sync-every-<minutes>min-<zone>`, parameter `projects`): a
  schedule per project made the deployment slow to read at 200 projects (3.6 s a read, and a
  worker reads it twice per run), and one run per group fans out on a work pool anyway;
- `daily-update` and `weekly-update`: each project's `reports.daily_update.cron` (and
  `reports.weekly_update.cron`) in the project's timezone (slug `daily-update-<project>`…);
- `deliver-pending`: every 15 minutes;
- `stage-report`: `stagecast.stage.completed` of the projects that send stage reports;
- `project-report`: `stagecast.project.completed` of the projects that send a wrap-up;
- `risk-alert`: `stagecast.risk.raised` at or above each project's `min_severity` (the event's
  resource carries `stagecast.risk.severity`, so a trigger never starts a run for nothing);
- `team-alert`: `prefect.flow-run.Failed`/`Crashed` of the runs of these deployments (tagged
  `stagecast-<name>`).

Every run gets the config's absolute path as its `config` parameter: the config (and the
secrets it names) must be readable at that path wherever the run executes.
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from prefect.events import DeploymentEventTrigger
from prefect.flows import Flow
from prefect.schedules import Cron, Interval, Schedule

from deployments.catalog import CATALOG, DELIVER_PENDING_EVERY_MINUTES, TAG, Declared
from flows.engine import as_prefect_flow
from stagecast.alerts import alerting_severities
from stagecast.changes import PROJECT_COMPLETED, RISK_RAISED, STAGE_COMPLETED
from stagecast.config import Config

FAILED_OR_CRASHED = {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
# A served or worker-run flow sends a heartbeat this often (Prefect's minimum); a run silent for
# three beats, without having finished or been suspended, died with its process or machine.
HEARTBEAT_SECONDS = 30
SILENT_SECONDS = 3 * HEARTBEAT_SECONDS
# What a worker starts each run with (`serve` sets the same heartbeat itself).
WORKER_JOB_VARIABLES = {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_SECONDS)}}
RUN_ENDS = {
    f"prefect.flow-run.{state}"
    for state in (
        "Completed",
        "Failed",
        "Crashed",
        "Cancelled",
        "Cancelling",
        "Suspended",
        "Paused",
    )
}
# Intervals count from a local midnight: an hourly sync runs on the hour, deliver-pending at
# :00, :15, :30 and :45, whenever `serve` happened to start.
ANCHOR = datetime(2026, 1, 1)


def _anchor(zone: str | None) -> datetime:
    return ANCHOR.replace(tzinfo=ZoneInfo(zone or "UTC"))


def run_tag(name: str) -> str:
    """The tag the runs of one set of deployments carry (`stagecast-<name>`)."""
    return f"{TAG}-{name}"


def load_flow(entrypoint: str) -> Flow[..., Any]:
    """The flow object an entrypoint (`module:function`) names."""
    module, _, attribute = entrypoint.partition(":")
    found = as_prefect_flow(getattr(importlib.import_module(module), attribute))
    if not isinstance(found, Flow):
        raise TypeError(f"{entrypoint} is not a Prefect flow")
    return found


def schedules(declared: Declared, config: Config) -> list[Schedule]:
    """The schedules of one deployment, each with a slug so re-applying updates it in place."""
    if declared.start == "interval_per_group":
        groups: dict[tuple[int, str | None], list[str]] = defaultdict(list)
        for p in config.projects:
            groups[(p.sync.every_minutes, p.timezone)].append(p.key)
        return [
            Interval(
                timedelta(minutes=minutes),
                anchor_date=_anchor(zone),
                timezone=zone,
                parameters={"projects": keys},
                slug=f"{declared.flow}-every-{minutes}min-{zone or 'UTC'}",
            )
            for (minutes, zone), keys in groups.items()
        ]
    if declared.start == "per_project_cron":
        return [
            Cron(
                rule.cron,
                timezone=p.timezone,
                parameters={"project": p.key},
                slug=f"{declared.flow}-{p.key}",
            )
            for p in config.projects
            if (rule := p.reports.by_kind().get(declared.flow.replace("-", "_"))) is not None
            and rule.cron is not None
        ]
    if declared.start == "every_15_minutes":
        every = timedelta(minutes=DELIVER_PENDING_EVERY_MINUTES)
        return [
            Interval(
                every,
                anchor_date=_anchor(config.timezone),
                timezone=config.timezone,
                slug=declared.flow,
            )
        ]
    return []


def triggers(declared: Declared, config: Config, name: str) -> list[DeploymentEventTrigger]:
    """The event triggers of one deployment (empty for the scheduled ones)."""
    if declared.flow == "stage-report":
        keys = [p.key for p in config.projects if p.reports.stage_report is not None]
        if not keys:
            return []
        return [
            DeploymentEventTrigger(
                name=f"{name}: stage report when a stage completes",
                expect={STAGE_COMPLETED},
                match={"prefect.resource.id": [f"stagecast.project.{k}.stage.*" for k in keys]},
                parameters={
                    "project": "{{ event.payload.project }}",
                    "stage": "{{ event.payload.stage }}",
                },
            )
        ]
    if declared.flow == "project-report":
        keys = [p.key for p in config.projects if p.reports.project_report is not None]
        if not keys:
            return []
        return [
            DeploymentEventTrigger(
                name=f"{name}: project wrap-up when the last stage completes",
                expect={PROJECT_COMPLETED},
                match={"prefect.resource.id": [f"stagecast.project.{k}" for k in keys]},
                parameters={"project": "{{ event.payload.project }}"},
            )
        ]
    if declared.flow == "risk-alert":
        by_floor: dict[tuple[str, ...], list[str]] = defaultdict(list)
        for p in config.projects:
            if p.reports.risk_alert is not None:
                by_floor[tuple(alerting_severities(p))].append(p.key)
        return [
            DeploymentEventTrigger(
                name=f"{name}: risk alert at {'/'.join(severities)}",
                expect={RISK_RAISED},
                match={
                    "prefect.resource.id": [f"stagecast.project.{k}" for k in keys],
                    "stagecast.risk.severity": list(severities),
                },
                parameters={
                    "project": "{{ event.payload.project }}",
                    "risk": "{{ event.payload.code }}:{{ event.payload.subject }}",
                },
            )
            for severities, keys in sorted(by_floor.items())
        ]
    if declared.flow == "team-alert":
        return [
            DeploymentEventTrigger(
                name=f"{name}: tell the team when a run fails or crashes",
                expect=FAILED_OR_CRASHED,
                match={"prefect.resource.id": "prefect.flow-run.*"},
                match_related={
                    "prefect.resource.role": "tag",
                    "prefect.resource.id": f"prefect.tag.{run_tag(name)}",
                },
                parameters={"flow_run_id": "{{ event.resource.id.split('.')[-1] }}"},
            )
        ]
    return []


def crash_watch(name: str) -> Any:
    """The automation that marks a run Crashed when its heartbeats stop (its serving process or
    machine died with it); the team-alert trigger then tells the team as for any crash."""
    from prefect.automations import AutomationCore, ChangeFlowRunState, EventTrigger, Posture
    from prefect.client.schemas.objects import StateType

    return AutomationCore(
        name=f"{name}: a run whose heartbeats stopped has crashed",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *RUN_ENDS},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={
                "prefect.resource.role": "tag",
                "prefect.resource.id": f"prefect.tag.{run_tag(name)}",
            },
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=SILENT_SECONDS),
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {SILENT_SECONDS} s: its process or machine stopped",
            )
        ],
    )


def build_deployments(config_file: Path, config: Config, name: str) -> list[Any]:
    """Every deployment of the catalogue for this config, ready to serve or to apply."""
    from prefect.types.entrypoint import EntrypointType

    path = str(config_file.resolve())
    built = []
    for declared in CATALOG:
        # The team-alert runs are not tagged for alerts themselves: no alert about an alert.
        tags = [TAG] if declared.flow == "team-alert" else [TAG, run_tag(name)]
        deployment = load_flow(declared.entrypoint).to_deployment(
            name=name,
            description=declared.description,
            tags=tags,
            parameters={"config": path},
            schedules=schedules(declared, config),
            triggers=triggers(declared, config, name),
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
        built.append(deployment)
    return built
