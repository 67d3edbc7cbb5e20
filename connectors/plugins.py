"""Every source and channel stagecast has, registered once, here.

One entry per config `type`: where its code lives (imported on first use, so a project that
never talks to Google does not pay for importing its client) and what the rest of the system
needs to know without importing it — whether a source provides tasks (the freshness check holds
a client report on stale task data, not on a stale folder of minutes). `build_source`,
`build_channel`, the freshness check and the contract test suites all read these registries, so
a new plugin is one entry here plus its module, and cannot skip its contract tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any


@dataclass(frozen=True)
class Plugin:
    """One source or channel type: `target` is `module:attribute` of its factory, which takes
    the validated config entry (channels: and a `ChannelContext`)."""

    type: str
    target: str
    provides_tasks: bool = False
    shows_html: bool = False  # a channel that delivers the HTML rendering (and its chart)

    def factory(self) -> Any:
        """The factory, imported now."""
        module, _, attribute = self.target.partition(":")
        return getattr(import_module(module), attribute)


def _registry(*plugins: Plugin) -> dict[str, Plugin]:
    return {p.type: p for p in plugins}


SOURCES: dict[str, Plugin] = _registry(
    Plugin("jira", "connectors.sources.jira:JiraSource", provides_tasks=True),
    Plugin("trello", "connectors.sources.trello:TrelloSource", provides_tasks=True),
    Plugin(
        "trello_export", "connectors.sources.trello_export:TrelloExportSource", provides_tasks=True
    ),
    Plugin("gdrive", "connectors.sources.gdrive:DriveSource"),
)

CHANNELS: dict[str, Plugin] = _registry(
    Plugin("file", "connectors.channels.file:build", shows_html=True),
    Plugin("email", "connectors.channels.email:build", shows_html=True),
    Plugin("slack", "connectors.channels.slack:build"),
    Plugin("teams", "connectors.channels.teams:build"),
    Plugin("wecom", "connectors.channels.wecom:build"),
    Plugin("feishu", "connectors.channels.feishu:build"),
    Plugin("dingtalk", "connectors.channels.dingtalk:build"),
)


def task_source_types() -> frozenset[str]:
    """The source types whose data a client report's freshness depends on."""
    return frozenset(t for t, p in SOURCES.items() if p.provides_tasks)


def shows_html(channel_type: str) -> bool:
    """Whether a channel delivers the HTML rendering: only those get the burn-up chart drawn."""
    plugin = CHANNELS.get(channel_type)
    return plugin is not None and plugin.shows_html
