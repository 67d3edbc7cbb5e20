"""The `daily-update` flow: sync a project, then render and deliver its daily update."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

from prefect import flow
from prefect.states import State

from connectors.store import StateStore
from flows.reports import ReportRequest, Scene, run_name, run_report
from flows.runtime import deployed_run, finish
from flows.sync import SyncResult
from stagecast.config import ChannelConfig, load_config
from stagecast.models import Snapshot
from stagecast.output import RunResult
from stagecast.reports.context import daily_update_context
from stagecast.schedule import superseded_by

KIND = "daily_update"

log = logging.getLogger("stagecast.daily_update")


def since_last_update(store: StateStore, project: str, result: SyncResult) -> Snapshot | None:
    """The snapshot the last daily update was made from; else the previous snapshot."""
    sent = [
        datetime.fromisoformat(d.content["as_of"])
        for d in store.deliveries(status="sent", project=project)
        if d.report == KIND and "as_of" in d.content
    ]
    earlier = [moment for moment in sent if moment < result.snapshot.as_of]
    found = store.snapshot_at(project, max(earlier)) if earlier else None
    return found or result.previous


def daily_context(scene: Scene, channel: ChannelConfig, language: str) -> Any:
    """Compared with the snapshot of the last daily update sent."""
    since = since_last_update(scene.store, scene.project.key, scene.result)
    return daily_update_context(
        scene.project,
        scene.snapshot,
        since,
        audience=channel.audience,
        language=language,
        calendar=scene.calendar,
        for_date=scene.period_date,
    )


def scheduled(request: ReportRequest, due: str | None = None) -> ReportRequest | None:
    """A scheduled run's request: for its cron occurrence's day, evaluated now.

    None when a later occurrence is also due already (the server or the serving process was
    down): that run, or `deliver-pending`'s catch-up, sends one update covering everything
    since the last one sent, rather than one per missed day.
    """
    if due is not None:  # a catch-up names its occurrence
        return replace(request, period_date=datetime.fromisoformat(due).date())
    run = deployed_run()
    if run is None or run.resumed or request.as_of is not None:
        return request
    project = load_config(request.config).project(request.project)
    rule = project.reports.daily_update
    due = run.scheduled_for.astimezone(project.tz)
    if rule is not None and rule.cron is not None:
        later = superseded_by(rule.cron, project.tz, due, datetime.now(project.tz))
        if later is not None:
            log.info(
                "%s: the update due %s is late and the one due %s is due too; that one covers both",
                project.key,
                due.isoformat(timespec="minutes"),
                later.isoformat(timespec="minutes"),
            )
            return None
    return replace(request, period_date=due.date())


@flow(name="daily-update", flow_run_name=run_name("daily-update"))
def daily_update_flow(
    config: str,
    project: str,
    as_of: str | None = None,
    channel: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    due: str | None = None,
) -> RunResult | State:
    """Sync the project, then render its daily update and deliver it to the report's channels.

    `due` (set by a catch-up) is the schedule occurrence the update is for.
    """
    request = ReportRequest(config, project, KIND, as_of, channel, dry_run, force)
    request = scheduled(request, due)
    if request is None:
        return RunResult(datetime.now().astimezone(), [])
    return finish(run_report(request, daily_context))
