"""Rendering a report for each of its channels and delivering it: shared by every report flow.

A report kind knows how to build its context for one channel (audience and language); this
module does the rest the same way for all kinds: render, decide and deliver through the
ledger, and show the rendering as a markdown artifact in the UI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cache, cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from connectors.channels.base import ChannelContext
from connectors.charts import ChartCache, chart_folder
from connectors.plugins import shows_html, task_source_types
from connectors.state import state_store
from connectors.store import StateStore
from flows.delivery import (
    DeliveryRequest,
    deliver,
    lease_of,
    outcome_of,
    recover_dead_claims,
)
from flows.engine import orchestrated, step
from flows.limits import project_turn, wanted_limits
from flows.runtime import DeployedRun, deployed_run
from stagecast.alerts import find_risk
from stagecast.burnup import burnup
from stagecast.calendar import WorkCalendar, parse_as_of
from stagecast.config import ChannelConfig, Config, ConfigError, ProjectConfig, load_config
from stagecast.delivery import stale_task_sources
from stagecast.evaluate import calendar_for
from stagecast.ledger import DeliveryOutcome
from stagecast.models import Message, Snapshot
from stagecast.output import ProjectRun, RunResult
from stagecast.reports.chart import Chart
from stagecast.reports.render import render_report
from stagecast.schedule import superseded_by

if TYPE_CHECKING:
    from flows.sync import SyncResult

log = logging.getLogger("stagecast.reports")

T = TypeVar("T")

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
    flow_run: str | None = None  # the deployed run recording it, to resume on approval


def template_dirs(config: Config, project: ProjectConfig) -> list[Path]:
    """The project's templates over the top-level folder over the packaged ones."""
    return [d for d in (project.templates, config.templates) if d is not None]


def report_channels(project: ProjectConfig, kind: str, only: str | None) -> list[ChannelConfig]:
    """The channels a report goes to, or just `--channel`."""
    if only is not None:
        return [project.channel(only)]
    rule = project.reports.by_kind().get(kind)
    return [project.channel(name) for name in rule.channels] if rule else []


@step(name="deliver-report", task_run_name="{job.kind} {job.project.key}")
def render_and_deliver(store: StateStore, job: ReportJob) -> list[DeliveryOutcome]:
    """Render the report per channel and deliver it; one failed channel does not stop the rest."""
    project, snapshot = job.project, job.snapshot
    context = ChannelContext(project=project.key, outbox=job.config.outbox)
    calendar = calendar_for(project)
    stale = stale_task_sources(snapshot.sources, snapshot.as_of, task_source_types())
    chart = cache(partial(burnup_chart, store, job))  # once per job, and only if HTML shows it
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
            chart=chart() if shows_html(channel.type) else None,
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
            flow_run=job.flow_run,
            lease=lease_of(job.config),
        )
        deliveries.append(deliver(store, request))
        if not job.dry_run:
            show_rendering(job, message, channel)
    return deliveries


def show_rendering(job: ReportJob, message: Message, channel: ChannelConfig) -> None:
    """The rendering as a markdown artifact on the flow run's page (nothing outside one)."""
    if not orchestrated():
        return
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        key=f"report-{job.project.key}-{job.kind.replace('_', '-')}",
        markdown=message.markdown,
        description=f"{message.title} ({channel.name}, {channel.audience})",
    )


def burnup_chart(store: StateStore, job: ReportJob) -> Chart | None:
    """The project's burn-up chart at the job's snapshot (stored or, in a dry run, not), drawn
    through the chart cache beside the outbox (read-only in a dry run, which writes nothing);
    None when the project has no stages."""
    snapshot = job.snapshot
    stored = store.daily_history(job.project.key, snapshot.as_of, job.project.tz, stages_only=True)
    series = burnup([*(s for s in stored if s.as_of < snapshot.as_of), snapshot], job.project.tz)
    if series is None:
        return None
    return Chart(series, ChartCache(chart_folder(job.config.outbox), write=not job.dry_run))


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
    period_date: date | None = None  # a scheduled daily update's day (its cron occurrence)


@dataclass
class Scene:
    """What every report kind builds its context from: the project at this run's snapshot."""

    project: ProjectConfig
    result: SyncResult
    store: StateStore
    calendar: WorkCalendar
    period_date: date | None = None
    known: dict[str, Any] = field(default_factory=dict)

    @property
    def snapshot(self) -> Snapshot:
        return self.result.snapshot

    @cached_property
    def history(self) -> list[Snapshot]:
        """Stored snapshots up to this one, oldest first (read once, only by kinds that ask)."""
        return self.store.history(self.project.key, self.snapshot.as_of)

    def once(self, name: str, compute: Callable[[], T]) -> T:
        """What a kind works out from the store once per run, not once per channel."""
        if name not in self.known:
            self.known[name] = compute()
        return self.known[name]  # type: ignore[no-any-return]


# A report kind: its context for one channel in one language, or None when that channel must
# not get it (an internal-only risk for a client group, a stage that does not exist).
BuildContext = Callable[[Scene, ChannelConfig, str], Any]


def run_report(request: ReportRequest, build: BuildContext) -> RunResult:
    """Sync the project, then render the report and deliver it to its channels.

    A dry run stores, emits and sends nothing; it previews each channel's rendering. A run of a
    deployment that leaves a client report awaiting approval suspends until a person decides
    (`flows.approval`); its next execution only finishes those reports.
    """
    loaded = load_config(request.config)
    chosen = loaded.project(request.project)
    run = deployed_run()
    if run is not None and run.resumed:
        return finish_approvals(loaded, chosen, run)
    moment = parse_as_of(request.as_of, loaded.tz) if request.as_of else datetime.now(loaded.tz)
    from flows.sync import keep_caches

    keep_caches(loaded)
    with project_turn(chosen.key), state_store(loaded.state, loaded.outbox) as store:
        result, deliveries = _sync_and_deliver(request, build, loaded, chosen, store, moment, run)
        # Only what this run recorded: an older run already waits on its own reports.
        waiting = store.deliveries(status="awaiting_approval", flow_run=run.id) if run else []
    if waiting:
        from flows.approval import wait_for_decision

        wait_for_decision(waiting)  # the run suspends here
    events = () if request.dry_run else result.events
    return RunResult(moment, [ProjectRun(result.snapshot, events, deliveries)])


def _sync_and_deliver(
    request: ReportRequest,
    build: BuildContext,
    loaded: Config,
    chosen: ProjectConfig,
    store: StateStore,
    moment: datetime,
    run: DeployedRun | None,
) -> tuple[SyncResult, list[DeliveryOutcome]]:
    """The report's work: sync, publish, render and deliver; tell the team of stale sources."""
    from flows.sync import publish, summary, sync_project

    channels = report_channels(chosen, request.kind, request.channel)
    recovered = [] if request.dry_run else recover_dead_claims(store, loaded)
    result = sync_project(
        chosen,
        store,
        moment,
        save=not request.dry_run,
        shared=wanted_limits(loaded),
        publish=publish,
    )
    log.info("%s", summary(chosen.key, result))
    scene = Scene(chosen, result, store, calendar_for(chosen), request.period_date)
    job = ReportJob(
        loaded,
        chosen,
        request.kind,
        result.snapshot,
        channels,
        partial(build, scene),
        force=request.force,
        dry_run=request.dry_run,
        flow_run=run.id if run is not None else None,
    )
    deliveries = render_and_deliver(store, job)
    if channels and not deliveries:
        log.warning("%s: no channel gets this %s at %s", chosen.key, request.kind, moment)
    if any(d.status == "held" for d in deliveries) and not request.dry_run:
        deliveries += tell_team_of_stale_sources(scene, job)
    if not request.dry_run:
        from flows.team_alert import tell_team_of_unknown

        deliveries += tell_team_of_unknown(store, loaded, recovered + deliveries, moment)
    return result, deliveries


def tell_team_of_stale_sources(scene: Scene, held: ReportJob) -> list[DeliveryOutcome]:
    """A client report was held for stale data: the internal `source_unavailable` alert of each
    stale source goes to the project's internal channels instead (SPEC §8)."""
    from flows.risk_alert import risk_context

    outcomes: list[DeliveryOutcome] = []
    for name in stale_task_sources(
        scene.snapshot.sources, scene.snapshot.as_of, task_source_types()
    ):
        risk = f"source_unavailable:{name}"
        if find_risk(scene.snapshot, risk) is None:
            continue
        log.warning("%s: client report held; telling the team that %s is stale", held.kind, name)
        alert = replace(
            held,
            kind="risk_alert",
            channels=scene.project.internal_channels(),
            context_for=partial(risk_context(risk), scene),
            force=False,
        )
        outcomes += render_and_deliver(scene.store, alert)
    return outcomes


def finish_approvals(loaded: Config, chosen: ProjectConfig, run: DeployedRun) -> RunResult:
    """The execution after a person's decision: record it, send what was approved and is due.

    Nothing is synced or rendered again: what is sent is what the person saw.
    """
    from flows.approval import apply_decision, wait_for_decision

    moment = datetime.now(loaded.tz)
    with state_store(loaded.state, loaded.outbox) as store:
        entries = store.deliveries(project=chosen.key, flow_run=run.id)
        waiting = [e for e in entries if e.status == "awaiting_approval"]
        decision = wait_for_decision(waiting or entries)  # answered at once now
        deciding = [e for e in entries if e.status in ("awaiting_approval", "approved")]
        decided = {o.id: o for o in apply_decision(store, loaded, deciding, decision, moment)}
        outcomes = [decided.get(e.id) or outcome_of(e) for e in entries]
        as_of = min(
            (e.content.get("as_of") for e in entries if e.content.get("as_of")), default=None
        )
        snapshot = store.snapshot_at(chosen.key, datetime.fromisoformat(as_of)) if as_of else None
        snapshot = snapshot or store.latest_before(chosen.key, moment)
    if snapshot is None:
        return RunResult(moment, [])
    return RunResult(moment, [ProjectRun(snapshot, (), outcomes)])


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
    rule = project.reports.by_kind().get(request.kind)
    due = run.scheduled_for.astimezone(project.tz)
    if rule is not None and rule.cron is not None:
        later = superseded_by(rule.cron, project.tz, due, datetime.now(project.tz))
        if later is not None:
            log.info(
                "%s: the %s due %s is late and the one due %s is due too; that one covers both",
                project.key,
                request.kind,
                due.isoformat(timespec="minutes"),
                later.isoformat(timespec="minutes"),
            )
            return None
    return replace(request, period_date=due.date())


def run_name(kind: str) -> Callable[[], str]:
    """Flow-run names that say kind, project and period at a glance in the UI:
    `daily-update-acme-portal-2026-11-20`, `stage-report-acme-portal-设计评审-2026-11-20T17:30`.

    The moment is `--as-of` when given, else the time the run was scheduled for (a scheduled
    daily update is named after the day it is for), in the project's timezone.
    """

    def name() -> str:
        from prefect.runtime import flow_run

        params = flow_run.parameters
        what = params.get("stage") or params.get("risk") or ""
        when = (
            params.get("due")
            or params.get("as_of")
            or _local(flow_run.scheduled_start_time, params.get("config"), params.get("project"))
        )
        if kind in ("daily-update", "weekly-update") and when and "T" in str(when):
            when = str(when).partition("T")[0]
        parts = [kind, params.get("project"), what, when]
        return "-".join(str(p) for p in parts if p)

    return name


def _local(moment: datetime | None, config: str | None, project: str | None) -> str | None:
    """A moment in the project's timezone, to the minute (None when it cannot be said)."""
    if moment is None:
        return None
    try:
        zone = load_config(config).project(project).tz if config and project else None
    except (ConfigError, OSError):  # a name never fails the run; the run reports a bad config
        zone = None
    local = moment.astimezone(zone) if zone else moment
    return local.isoformat(timespec="minutes")
