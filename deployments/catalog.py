"""The static part of the deployments: one per flow, as declared data.

Python rather than `prefect.yaml`: the schedules and triggers come from `stagecast.yaml`, which
`prefect deploy` cannot read, and one declaration then serves both `serve` (a Runner in this
process) and `deploy` (a process work pool), with module entrypoints that work wherever
stagecast is installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# How a deployment's runs start.
# `interval_per_group`: every `sync.every_minutes`, one schedule for the projects that share the
# interval and timezone; `per_project_cron`: each project's own cron.
Start = Literal["interval_per_group", "per_project_cron", "every_15_minutes", "event"]

TAG = "stagecast"
DEFAULT_NAME = "stagecast"
DELIVER_PENDING_EVERY_MINUTES = 15


@dataclass(frozen=True)
class Declared:
    """One deployment: the flow it runs and how its runs start."""

    flow: str
    entrypoint: str
    start: Start
    description: str


CATALOG: tuple[Declared, ...] = (
    Declared(
        "sync",
        "flows.sync:sync_flow",
        "interval_per_group",
        "Pull every source of the project, compute progress and risks, store the snapshot, "
        "emit stage.completed and risk.raised events. Every `sync.every_minutes` for the projects "
        "that share it; on a work pool, such a run starts one run per project for the workers.",
    ),
    Declared(
        "daily-update",
        "flows.daily_update:daily_update_flow",
        "per_project_cron",
        "Sync, then send the project's daily update to its channels (client channels only in "
        "working hours). At each project's `reports.daily_update.cron`, in its timezone.",
    ),
    Declared(
        "weekly-update",
        "flows.weekly_update:weekly_update_flow",
        "per_project_cron",
        "Sync, then send the project's weekly update (its ISO week) to its channels. At each "
        "project's `reports.weekly_update.cron`, in its timezone.",
    ),
    Declared(
        "stage-report",
        "flows.stage_report:stage_report_flow",
        "event",
        "What a completed stage delivered, the problems met and how they were solved. Started "
        "by `stagecast.stage.completed`.",
    ),
    Declared(
        "project-report",
        "flows.project_report:project_report_flow",
        "event",
        "The project wrap-up: every stage planned vs actual, what was delivered, the problems "
        "and how they were solved, decisions, open items. Started by "
        "`stagecast.project.completed`.",
    ),
    Declared(
        "risk-alert",
        "flows.risk_alert:risk_alert_flow",
        "event",
        "One new risk at or above the project's `min_severity`. Started by "
        "`stagecast.risk.raised`.",
    ),
    Declared(
        "deliver-pending",
        "flows.deliver_pending:deliver_pending_flow",
        "every_15_minutes",
        "Send deferred and approved reports that are due, expire unanswered approvals, catch "
        "up a missed daily update. Every 15 minutes.",
    ),
    Declared(
        "team-alert",
        "flows.team_alert:team_alert_flow",
        "event",
        "Tell the project's internal channels that a stagecast run failed or crashed. Started "
        "by an automation on those runs.",
    ),
)
