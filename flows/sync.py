"""The sync: pull every source of a project, compute its snapshot, store it, report the events.

Plain functions for now; the Prefect `sync` flow wraps exactly these steps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from connectors.sources.base import SourceError, build_source
from connectors.store import SourceState, StateStore
from stagecast.changes import compare, events_for
from stagecast.config import ProjectConfig, SourceConfig
from stagecast.evaluate import SourceOutcome, evaluate
from stagecast.models import Changes, Event, Snapshot

log = logging.getLogger("stagecast.sync")


@dataclass(frozen=True)
class SyncResult:
    """A project's snapshot, what changed, and the events this run emits (new ones only)."""

    snapshot: Snapshot
    changes: Changes
    events: tuple[Event, ...]

    @property
    def sources_ok(self) -> bool:
        return all(s.ok for s in self.snapshot.sources)


def pull_source(cfg: SourceConfig, known: SourceState | None, as_of: datetime) -> SourceOutcome:
    """Pull one source; a failure makes it unavailable for this run, never a crash."""
    name = cfg.name or cfg.type
    last_ok = known.last_ok if known else None
    try:
        pull = build_source(cfg).pull(since=known.cursor if known else None)
    except SourceError as err:
        log.warning("source %s is unavailable: %s", name, err)
        return SourceOutcome(name, cfg.type, None, str(err), last_ok)
    return SourceOutcome(name, cfg.type, pull, None, as_of)


def sync_project(project: ProjectConfig, store: StateStore, as_of: datetime) -> SyncResult:
    """Pull, compute, compare with the previous snapshot, store in one transaction."""
    known = store.source_states(project.key)
    outcomes = [pull_source(cfg, known.get(cfg.name or cfg.type), as_of) for cfg in project.sources]
    previous = store.latest_before(project.key, as_of)
    snapshot = evaluate(project, as_of, outcomes, previous, store.baselines(project.key, as_of))
    changes = compare(previous, snapshot)
    already = store.emitted_at(project.key, as_of)
    events = tuple(e for e in events_for(snapshot, changes) if e.id not in already)
    store.save_sync(snapshot, _source_states(outcomes, known), [e.id for e in events])
    return SyncResult(snapshot, changes, events)


def _source_states(
    outcomes: Sequence[SourceOutcome], known: dict[str, SourceState]
) -> list[SourceState]:
    """Remember when each source last succeeded; a failure keeps the old cursor."""
    states = []
    for o in outcomes:
        old = known.get(o.name)
        if o.pull is None:
            states.append(old or SourceState(o.name, None, None, None))
            continue
        last_ok = max(filter(None, [o.last_ok, old.last_ok if old else None]))
        states.append(SourceState(o.name, last_ok, old.cursor if old else None, last_ok))
    return states
