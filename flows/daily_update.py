"""The `daily-update` flow: sync a project, then render and deliver its daily update."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow

from connectors.store import StateStore
from flows.reports import ContextFor, ReportJob, render_and_deliver, report_channels
from flows.sync import SyncResult, publish_events, publish_risks, sync_project
from stagecast.calendar import parse_as_of
from stagecast.config import ChannelConfig, ProjectConfig, load_config
from stagecast.evaluate import calendar_for
from stagecast.models import Snapshot
from stagecast.output import ProjectRun, run_json
from stagecast.reports.context import daily_update_context

KIND = "daily_update"


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


def daily_context(project: ProjectConfig, result: SyncResult, since: Snapshot | None) -> ContextFor:
    """The daily update's context for each channel's audience and language."""
    calendar = calendar_for(project)

    def context_for(channel: ChannelConfig, language: str) -> Any:
        return daily_update_context(
            project,
            result.snapshot,
            since,
            audience=channel.audience,
            language=language,
            calendar=calendar,
        )

    return context_for


def _run_name() -> str:
    """`daily-update-acme-portal-2026-11-20T17:30:00+08:00`."""
    from prefect.runtime import flow_run

    params = flow_run.parameters
    return f"daily-update-{params.get('project')}-{params.get('as_of') or 'now'}"


@flow(name="daily-update", flow_run_name=_run_name)
def daily_update_flow(
    config: str,
    project: str,
    as_of: str | None = None,
    channel: str | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> dict[str, Any]:
    """Sync the project, then render its daily update and deliver it to the report's channels."""
    loaded = load_config(config)
    chosen = loaded.project(project)
    moment = parse_as_of(as_of, loaded.tz) if as_of else datetime.now(loaded.tz)
    channels = report_channels(chosen, KIND, channel)
    with StateStore(loaded.state) as store:
        result = sync_project(chosen, store, moment, save=not dry_run)
        if not dry_run:
            publish_events(result.events)
            publish_risks(result.snapshot)
        since = since_last_update(store, chosen.key, result)
        job = ReportJob(
            loaded,
            chosen,
            KIND,
            result.snapshot,
            channels,
            daily_context(chosen, result, since),
            force=force,
            dry_run=dry_run,
        )
        deliveries = render_and_deliver(store, job)
    run = ProjectRun(result.snapshot, () if dry_run else result.events, deliveries)
    return run_json(moment, [run], loaded.tz)
