"""The `daily-update` flow: sync a project, then render and deliver its daily update."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from connectors.channels.base import ChannelContext
from connectors.store import StateStore
from flows.delivery import DeliveryRequest, deliver
from flows.sync import SyncResult, publish_events, publish_risks, sync_project
from stagecast.calendar import parse_as_of
from stagecast.config import ChannelConfig, Config, ProjectConfig, load_config
from stagecast.delivery import stale_task_sources
from stagecast.evaluate import calendar_for
from stagecast.models import Message, Snapshot
from stagecast.output import ProjectRun, run_json
from stagecast.reports.context import daily_update_context
from stagecast.reports.render import render_report

KIND = "daily_update"


def template_dirs(config: Config, project: ProjectConfig) -> list[Path]:
    """The project's templates over the top-level folder over the packaged ones."""
    return [d for d in (project.templates, config.templates) if d is not None]


def report_channels(project: ProjectConfig, kind: str, only: str | None) -> list[ChannelConfig]:
    """The channels a report goes to, or just `--channel`."""
    if only is not None:
        return [project.channel(only)]
    rule = project.reports.by_kind().get(kind)
    return [project.channel(name) for name in rule.channels] if rule else []


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


def render_for(
    config: Config,
    project: ProjectConfig,
    channel: ChannelConfig,
    snapshot: Snapshot,
    since: Snapshot | None,
) -> Message:
    """The daily update in the channel's audience and language."""
    language = channel.language or project.language
    context = daily_update_context(
        project,
        snapshot,
        since,
        audience=channel.audience,
        language=language,
        calendar=calendar_for(project),
    )
    return render_report(
        KIND,
        context,
        language=language,
        audience=channel.audience,
        template_dirs=template_dirs(config, project),
    )


@task(name="deliver-daily-update", task_run_name="daily update {project.key}", cache_policy=NONE)
def render_and_deliver(
    config: Config,
    project: ProjectConfig,
    store: StateStore,
    result: SyncResult,
    channels: Sequence[ChannelConfig],
    *,
    force: bool = False,
    dry_run: bool = False,
) -> list[dict[str, Any]]:
    """Render the update per channel and deliver it; one failed channel does not stop the rest."""
    since = since_last_update(store, project.key, result)
    context = ChannelContext(project=project.key, outbox=config.outbox)
    snapshot = result.snapshot
    stale = stale_task_sources(snapshot.sources, snapshot.as_of)
    deliveries = []
    for channel in channels:
        message = render_for(config, project, channel, snapshot, since)
        request = DeliveryRequest(
            message,
            channel,
            context,
            snapshot.as_of,
            calendar_for(project),
            stale_sources=stale,
            force=force,
            dry_run=dry_run,
        )
        deliveries.append(deliver(store, request))
        if not dry_run:
            create_markdown_artifact(
                key=f"report-{project.key}-daily-update",
                markdown=message.markdown,
                description=f"{message.title} ({channel.name}, {channel.audience})",
            )
    return deliveries


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
        deliveries = render_and_deliver(
            loaded, chosen, store, result, channels, force=force, dry_run=dry_run
        )
    run = ProjectRun(result.snapshot, () if dry_run else result.events, deliveries)
    return run_json(moment, [run], loaded.tz)
