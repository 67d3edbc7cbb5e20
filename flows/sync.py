"""The `sync` flow: pull every source of each project, compute, store, emit the events.

Work is batched per project (one Prefect task each, run concurrently), never per Jira issue or
Trello card: a task per item costs milliseconds each and floods the UI.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from connectors.sources.base import PullRequest, SourceError, build_source
from connectors.sources.jira_site import SITES, site_facts_folder
from connectors.state import state_store
from connectors.store import SourceState, StateStore
from flows.engine import THREADS, flow, orchestrated, step
from flows.fan_out import FannedOut, fans_out, start_per_project
from flows.limits import host_slots, project_turn, wanted_limits
from flows.progress import step_done
from flows.runtime import deployed_run, finish
from stagecast.calendar import parse_as_of
from stagecast.changes import compare, events_for
from stagecast.config import Config, ProjectConfig, SourceConfig, load_config
from stagecast.evaluate import SourceOutcome, evaluate
from stagecast.models import Changes, Event, Snapshot
from stagecast.output import ProjectRun, RunResult, figures_only, risk_json
from stagecast.reports.render import keep_compiled_templates

if TYPE_CHECKING:
    from prefect.states import State

log = logging.getLogger("stagecast.sync")


@dataclass(frozen=True)
class SyncResult:
    """A project's snapshot, what changed, and the events this run emits (new ones only)."""

    snapshot: Snapshot
    previous: Snapshot | None
    changes: Changes
    events: tuple[Event, ...]

    @property
    def sources_ok(self) -> bool:
        return all(s.ok for s in self.snapshot.sources)


def keep_caches(config: Config) -> None:
    """What runs keep beside the outbox for the runs after them (each run on a worker is a
    process of its own): what each Jira site told us (Cloud or Data Center, its field ids),
    asked once a day rather than once per sync, and the compiled report templates."""
    SITES.persist_in(site_facts_folder(config.outbox))
    keep_compiled_templates(config.outbox / ".templates")


def pull_request(
    known: SourceState | None, previous: Snapshot | None, as_of: datetime
) -> PullRequest:
    """Continue from the cursor only when the previous snapshot holds that very pull's data.

    Otherwise (first sync, re-syncing a moment, the source failed last time) read everything.
    """
    continues = (
        known is not None
        and previous is not None
        and known.last_ok is not None
        and known.last_ok == previous.as_of
    )
    if not continues or known is None:
        return PullRequest(as_of=as_of)
    return PullRequest(as_of=as_of, cursor=known.cursor, last_full=known.last_full)


def pull_source(
    cfg: SourceConfig,
    known: SourceState | None,
    previous: Snapshot | None,
    as_of: datetime,
    shared: Mapping[str, int],
) -> SourceOutcome:
    """Pull one source within its host's limits; a failure makes it unavailable for this run,
    never a crash."""
    name = cfg.name or cfg.type
    last_ok = known.last_ok if known else None
    request = pull_request(known, previous, as_of)
    source = build_source(cfg)
    try:
        with host_slots(cfg, source, shared):
            pull = source.pull(request)
    except SourceError as err:
        log.warning("source %s is unavailable: %s", name, err)
        return SourceOutcome(name, cfg.type, None, str(err), last_ok)
    log.info(
        "source %s: %d tasks, %d documents (%s)",
        name,
        len(pull.tasks),
        len(pull.documents),
        "full read" if pull.complete else "changes since the last sync",
    )
    return SourceOutcome(name, cfg.type, pull, None, as_of)


def sync_project(
    project: ProjectConfig,
    store: StateStore,
    as_of: datetime,
    *,
    save: bool = True,
    shared: Mapping[str, int] | None = None,
    publish: Callable[[SyncResult], None] | None = None,
) -> SyncResult:
    """Pull, compute, compare with the previous snapshot, store in one transaction, and
    `publish` the result, all under the project's lock in the store: two overlapping syncs of
    one project (CLI, schedule, webhook) run one after the other, so neither doubles an event
    nor loses one.

    With `save=False` (a dry run) nothing is written, nothing locked, and every event counts
    as new. `shared` sizes the global host limits a deployed run reserves slots of.
    """
    if not save:
        return _sync(project, store, as_of, save=False, shared=shared)
    with store.project_lock(project.key):
        result = _sync(project, store, as_of, save=True, shared=shared)
        if publish is not None:
            publish(result)
    return result


def _sync(
    project: ProjectConfig,
    store: StateStore,
    as_of: datetime,
    *,
    save: bool,
    shared: Mapping[str, int] | None,
) -> SyncResult:
    """The sync itself: read previous → pull → evaluate → save."""
    known = store.source_states(project.key)
    previous = store.latest_before(project.key, as_of)
    outcomes = [
        pull_source(cfg, known.get(cfg.name or cfg.type), previous, as_of, shared or {})
        for cfg in project.sources
    ]
    snapshot = evaluate(project, as_of, outcomes, previous, store.baselines(project.key, as_of))
    changes = compare(previous, snapshot)
    already = store.emitted_at(project.key, as_of)
    events = tuple(e for e in events_for(snapshot, changes) if e.id not in already)
    if save and store.has_later_snapshot(project.key, as_of):
        # A run at a later moment already stored its snapshot and told its news: this one
        # only fills in the history.
        log.info("%s: a later sync is stored already; this one emits no events", project.key)
        events = ()
    if save:
        store.save_sync(snapshot, _source_states(outcomes, known), [e.id for e in events])
    return SyncResult(snapshot, previous, changes, events)


def _source_states(
    outcomes: Sequence[SourceOutcome], known: dict[str, SourceState]
) -> list[SourceState]:
    """Remember each source's last success, cursor and last full read; a failure keeps them."""
    states = []
    for o in outcomes:
        old = known.get(o.name)
        if o.pull is None:
            states.append(old or SourceState(o.name, None, None, None))
            continue
        last_ok = max(filter(None, [o.last_ok, old.last_ok if old else None]))
        last_full = o.last_ok if o.pull.complete else (old.last_full if old else None)
        states.append(SourceState(o.name, last_ok, o.pull.cursor, last_full))
    return states


def publish_events(events: Sequence[Event]) -> None:
    """Send the events to Prefect with their stable ids (automations start reports from them).

    Only a flow run has a Prefect API to send them to; the store records them either way.
    """
    if not orchestrated():
        return
    from prefect.events import emit_event

    for event in events:
        emit_event(
            event=event.type,
            resource={"prefect.resource.id": event.resource, **event.labels},
            payload=dict(event.payload),
            id=UUID(event.id),
        )


def publish(result: SyncResult) -> None:
    """What a stored sync tells Prefect: its new events and its risks."""
    publish_events(result.events)
    publish_risks(result.snapshot)


def publish_risks(snapshot: Snapshot) -> None:
    """The project's risks as a table artifact in the UI (of a flow run: the CLI prints them)."""
    if not orchestrated():
        return
    from prefect.artifacts import create_table_artifact

    rows = [risk_json(r) for r in snapshot.risks]
    create_table_artifact(
        key=f"risks-{snapshot.project}",
        table=rows
        or [{"code": "", "severity": "", "subject": "no risks", "stage": "", "detail": ""}],
        description=f"Risks of {snapshot.project} at {snapshot.as_of.isoformat()}",
    )


@step(name="sync-project", task_run_name="sync {project.key}")
def sync_project_task(
    project: ProjectConfig, store: StateStore, as_of: datetime, shared: Mapping[str, int]
) -> ProjectRun:
    """Pull one project's sources, compute its snapshot, store it and emit its new events.

    It returns the snapshot's figures without its tasks and documents (all a run's result
    shows), so a run of 200 projects holds the tasks of those it is syncing, not of all.
    """
    with project_turn(project.key):
        result = sync_project(project, store, as_of, shared=shared, publish=publish)
    line = summary(project.key, result)
    log.info("%s", line)
    step_done(line)
    return ProjectRun(figures_only(result.snapshot), result.events)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def summary(project: str, result: SyncResult) -> str:
    """One line for the logs and the terminal: tasks, flags and new events of a sync."""
    snap = result.snapshot
    flags = ", ".join(f"{r.code} {r.subject}" for r in snap.risks[:8])
    more = f" and {len(snap.risks) - 8} more" if len(snap.risks) > 8 else ""
    events = ", ".join(
        f"{e.type.removeprefix('stagecast.')} {e.payload.get('stage') or e.payload.get('code')}"
        for e in result.events
    )
    return (
        f"synced {project}: {snap.progress.total} tasks ({snap.progress.done} done), "
        f"{plural(len(snap.risks), 'risk')}{': ' + flags + more if flags else ''}; "
        f"{plural(len(result.events), 'new event')}{': ' + events if events else ''}"
    )


def _run_name() -> str:
    """`sync-acme-portal-2026-11-20T18:00:00+08:00` (or `sync-12-projects-now` for a schedule's
    group): project and moment at a glance in the UI."""
    from prefect.runtime import flow_run

    params = flow_run.parameters
    group = params.get("projects")
    which = params.get("project") or (f"{len(group)}-projects" if group else "all")
    return f"sync-{which}-{params.get('as_of') or 'now'}"


def sync_projects(
    projects: Sequence[ProjectConfig],
    store: StateStore,
    as_of: datetime,
    shared: Mapping[str, int],
) -> list[ProjectRun]:
    """Sync projects concurrently, one task each; results in the config's order."""
    futures = [sync_project_task.submit(p, store, as_of, shared) for p in projects]
    progress = ProgressArtifact("projects synced") if len(projects) > 3 else None
    results = []
    for done, future in enumerate(futures, start=1):
        results.append(future.result())
        if progress is not None:
            progress.update(100.0 * done / len(projects))
    return results


class ProgressArtifact:
    """A progress artifact on the flow run's page (nothing outside a flow run), moved in steps
    of `STEP` percent: a request per project would cost a group of 200 projects 200 requests
    for a bar nobody reads to the project."""

    STEP = 10.0

    def __init__(self, description: str) -> None:
        self.id = None
        self.shown = 0.0
        if orchestrated():
            from prefect.artifacts import create_progress_artifact

            self.id = create_progress_artifact(0.0, description=description)

    def update(self, percent: float) -> None:
        if self.id is None or (percent < 100 and percent - self.shown < self.STEP):
            return
        from prefect.artifacts import update_progress_artifact

        update_progress_artifact(self.id, percent)
        self.shown = percent


def chosen_projects(config: Config, keys: list[str] | None) -> list[ProjectConfig]:
    """The projects of a schedule's group (all, without one), in the config's order; a key no
    longer in the config (it changed since the last `serve`/`deploy`) is left out, logged."""
    if keys is None:
        return list(config.projects)
    known = {p.key for p in config.projects}
    if gone := [k for k in keys if k not in known]:
        log.warning("not in the config any more, not synced: %s", ", ".join(gone))
    return [p for p in config.projects if p.key in keys]


@flow(name="sync", flow_run_name=_run_name, threads=THREADS)
def sync_flow(
    config: str,
    project: str | None = None,
    as_of: str | None = None,
    projects: list[str] | None = None,
) -> RunResult | FannedOut | State:
    """Pull every source, compute progress and risks, store the snapshot, emit the events.

    `project` syncs one project; else `projects` (a schedule's group), else all of them. On a
    work pool, a run of several projects starts one run per project instead, for the pool's
    workers to share (`flows.fan_out`).
    """
    loaded = load_config(config)
    moment = parse_as_of(as_of, loaded.tz) if as_of else datetime.now(loaded.tz)
    chosen = [loaded.project(project)] if project else chosen_projects(loaded, projects)
    run = deployed_run()
    if project is None and run is not None and fans_out(run, len(chosen)):
        given = {"config": config, **({"as_of": as_of} if as_of else {})}
        return start_per_project(run, [p.key for p in chosen], given)
    keep_caches(loaded)
    with state_store(loaded.state, loaded.outbox) as store:
        results = sync_projects(chosen, store, moment, wanted_limits(loaded))
    return finish(RunResult(moment, results))
