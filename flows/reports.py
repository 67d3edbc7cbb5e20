"""Rendering a report for each of its channels and delivering it: shared by every report flow.

A report kind knows how to build its context for one channel (audience and language); this
module does the rest the same way for all kinds: render, decide and deliver through the
ledger, and show the rendering as a markdown artifact in the UI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NONE

from connectors.channels.base import ChannelContext
from connectors.store import StateStore
from flows.delivery import DeliveryRequest, deliver
from stagecast.calendar import WorkCalendar, parse_as_of
from stagecast.config import ChannelConfig, Config, ProjectConfig, load_config
from stagecast.delivery import stale_task_sources
from stagecast.evaluate import calendar_for
from stagecast.ledger import DeliveryOutcome
from stagecast.models import Snapshot
from stagecast.output import ProjectRun, RunResult
from stagecast.reports.render import render_report

if TYPE_CHECKING:
    from flows.sync import SyncResult

log = logging.getLogger("stagecast.reports")

# Builds the report's context for one channel: (channel, language) → context, or None when
# this channel must not get this report (e.g. an internal-only risk to a client group).
ContextFor = Callable[[ChannelConfig, str], Any]


@dataclass(frozen=True)
class ReportJob:
    """One report of one kind for one project, at the moment of `snapshot`."""

    config: Config
    project: ProjectConfig
    kind: str
    snapshot: Snapshot
    channels: Sequence[ChannelConfig]
    context_for: ContextFor
    force: bool = False
    dry_run: bool = False


def template_dirs(config: Config, project: ProjectConfig) -> list[Path]:
    """The project's templates over the top-level folder over the packaged ones."""
    return [d for d in (project.templates, config.templates) if d is not None]


def report_channels(project: ProjectConfig, kind: str, only: str | None) -> list[ChannelConfig]:
    """The channels a report goes to, or just `--channel`."""
    if only is not None:
        return [project.channel(only)]
    rule = project.reports.by_kind().get(kind)
    return [project.channel(name) for name in rule.channels] if rule else []


@task(name="deliver-report", task_run_name="{job.kind} {job.project.key}", cache_policy=NONE)
def render_and_deliver(store: StateStore, job: ReportJob) -> list[DeliveryOutcome]:
    """Render the report per channel and deliver it; one failed channel does not stop the rest."""
    project, snapshot = job.project, job.snapshot
    context = ChannelContext(project=project.key, outbox=job.config.outbox)
    calendar = calendar_for(project)
    stale = stale_task_sources(snapshot.sources, snapshot.as_of)
    deliveries = []
    for channel in job.channels:
        language = channel.language or project.language
        report = job.context_for(channel, language)
        if report is None:
            continue
        message = render_report(
            job.kind,
            report,
            language=language,
            audience=channel.audience,
            template_dirs=template_dirs(job.config, project),
        )
        request = DeliveryRequest(
            message,
            channel,
            context,
            snapshot.as_of,
            calendar,
            stale_sources=stale,
            force=job.force,
            dry_run=job.dry_run,
        )
        deliveries.append(deliver(store, request))
        if not job.dry_run:
            create_markdown_artifact(
                key=f"report-{project.key}-{job.kind.replace('_', '-')}",
                markdown=message.markdown,
                description=f"{message.title} ({channel.name}, {channel.audience})",
            )
    return deliveries


@dataclass(frozen=True)
class ReportRequest:
    """What `stagecast report` (or a trigger) asks for: a kind for a project at a moment."""

    config: str
    project: str
    kind: str
    as_of: str | None = None
    channel: str | None = None
    dry_run: bool = False
    force: bool = False


@dataclass
class Scene:
    """What every report kind builds its context from: the project at this run's snapshot."""

    project: ProjectConfig
    result: SyncResult
    store: StateStore
    calendar: WorkCalendar

    @property
    def snapshot(self) -> Snapshot:
        return self.result.snapshot

    @cached_property
    def history(self) -> list[Snapshot]:
        """Stored snapshots up to this one, oldest first (read once, only by kinds that ask)."""
        return self.store.history(self.project.key, self.snapshot.as_of)


# A report kind: its context for one channel in one language, or None when that channel must
# not get it (an internal-only risk for a client group, a stage that does not exist).
BuildContext = Callable[[Scene, ChannelConfig, str], Any]


def run_report(request: ReportRequest, build: BuildContext) -> RunResult:
    """Sync the project, then render the report and deliver it to its channels.

    A dry run stores, emits and sends nothing; it previews each channel's rendering.
    """
    from flows.sync import publish_events, publish_risks, sync_project

    loaded = load_config(request.config)
    chosen = loaded.project(request.project)
    moment = parse_as_of(request.as_of, loaded.tz) if request.as_of else datetime.now(loaded.tz)
    channels = report_channels(chosen, request.kind, request.channel)
    with StateStore(loaded.state) as store:
        result = sync_project(chosen, store, moment, save=not request.dry_run)
        if not request.dry_run:
            publish_events(result.events)
            publish_risks(result.snapshot)
        job = ReportJob(
            loaded,
            chosen,
            request.kind,
            result.snapshot,
            channels,
            partial(build, Scene(chosen, result, store, calendar_for(chosen))),
            force=request.force,
            dry_run=request.dry_run,
        )
        deliveries = render_and_deliver(store, job)
    if channels and not deliveries:
        log.warning("%s: no channel gets this %s at %s", chosen.key, request.kind, moment)
    events = () if request.dry_run else result.events
    return RunResult(moment, [ProjectRun(result.snapshot, events, deliveries)])


def run_name(kind: str) -> Callable[[], str]:
    """Flow-run names that say kind, project and moment: `stage-report-acme-portal-…`."""

    def name() -> str:
        from prefect.runtime import flow_run

        params = flow_run.parameters
        what = params.get("stage") or params.get("risk") or ""
        parts = [kind, params.get("project"), what, params.get("as_of") or "now"]
        return "-".join(str(p) for p in parts if p)

    return name
