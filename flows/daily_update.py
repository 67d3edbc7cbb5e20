"""The `daily-update` flow: sync a project, then render and deliver its daily update."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connectors.store import StateStore
from flows.engine import flow
from flows.reports import ReportRequest, Scene, run_name, run_report, scheduled
from flows.runtime import finish
from flows.sync import SyncResult
from stagecast.config import ChannelConfig
from stagecast.models import Snapshot
from stagecast.output import RunResult
from stagecast.reports.context import daily_update_context

if TYPE_CHECKING:
    from prefect.states import State


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
    since = scene.once(
        "since_last_update",
        lambda: since_last_update(scene.store, scene.project.key, scene.result),
    )
    return daily_update_context(
        scene.project,
        scene.snapshot,
        since,
        audience=channel.audience,
        language=language,
        calendar=scene.calendar,
        for_date=scene.period_date,
    )


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
