"""The contract every source keeps, and building one by the config's `type`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from stagecast.models import SourcePull


class SourceError(Exception):
    """A source failed for this run (network, auth, 5xx after retries, unreadable file).

    The message is shown to operators and stored, so it must never contain a secret (token,
    key, password, webhook address): name the source, the host or file, and what went wrong.
    """


class Source(Protocol):
    """Where tasks (and documents) come from: one configured entry of a project's `sources`.

    Obligations of `pull`:
    - return `Task`/`Document` models only; vendor JSON never leaves the connector;
    - keep the vendor's order (stage discovery depends on first appearance);
    - skip a malformed item with a warning that names it (in `SourcePull.warnings`, also
      logged) and go on with the rest;
    - raise `SourceError` when the source as a whole is unavailable for this run;
    - with a `PullRequest` that allows it (`not request.full`), fetch only what changed since
      `request.cursor` and return `complete=False` with the changed tasks and removed ids;
      otherwise read everything and return `complete=True`. Always return the next `cursor`.
      Sources that always read everything (an export file) ignore the request.
    - never have more than `fan_out` requests in flight at once within one pull: the flows
      reserve that many of the host's shared slots for the pull (and may lower it to fit).
    """

    name: str
    type: str
    fan_out: int

    def pull(self, request: PullRequest | None = None) -> SourcePull:
        """Fetch and normalise the source's current tasks."""
        ...


# Removals are only seen by a full read; do one at least this often (SPEC §9).
FULL_PULL_EVERY = timedelta(hours=24)


@dataclass(frozen=True)
class PullRequest:
    """What the flow knows when it asks a source for tasks: now, and the last good pull."""

    as_of: datetime
    cursor: str | None = None
    last_full: datetime | None = None

    @property
    def full(self) -> bool:
        """Read everything: first pull, no cursor, or the last full read is a day old."""
        return (
            self.cursor is None
            or self.last_full is None
            or self.as_of - self.last_full >= FULL_PULL_EVERY
        )


def build_source(cfg: Any) -> Source:
    """Turn one validated `sources[]` entry into its source (`connectors.plugins.SOURCES`)."""
    from connectors.plugins import SOURCES

    plugin = SOURCES.get(cfg.type)
    if plugin is None:
        known = ", ".join(sorted(SOURCES))
        raise ValueError(f"unknown source type {cfg.type!r} (known: {known})")
    source: Source = plugin.factory()(cfg)
    return source
