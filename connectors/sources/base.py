"""The contract every task source keeps, and the registry that picks one by the config's `type`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
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
    - `since` is the incremental cursor: fetch only what changed after it when the vendor
      allows (sources that always read everything, like an export file, ignore it).
    """

    name: str
    type: str

    def pull(self, since: datetime | None = None) -> SourcePull:
        """Fetch and normalise the source's current tasks."""
        ...


def _trello_export(cfg: Any) -> Source:
    """Build a `trello_export` source; imported here so unused connectors cost nothing."""
    from connectors.sources.trello_export import TrelloExportSource

    return TrelloExportSource(cfg)


# Explicit, one entry per `type` the config accepts; other source modules are added here.
SOURCE_TYPES: dict[str, Callable[[Any], Source]] = {
    "trello_export": _trello_export,
}


def build_source(cfg: Any) -> Source:
    """Turn one validated `sources[]` entry into its source, chosen by `cfg.type`."""
    factory = SOURCE_TYPES.get(cfg.type)
    if factory is None:
        known = ", ".join(sorted(SOURCE_TYPES))
        raise ValueError(f"unknown source type {cfg.type!r} (known: {known})")
    return factory(cfg)
