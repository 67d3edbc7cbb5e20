"""The `charter` flow: the group's rules and expectations, once per channel."""

from __future__ import annotations

from typing import Any

from prefect import flow

from connectors.store import StateStore
from flows.reports import ContextFor, ReportRequest, run_name, run_report
from flows.sync import SyncResult
from stagecast.config import ChannelConfig, ProjectConfig
from stagecast.evaluate import calendar_for
from stagecast.reports.context import charter_context

KIND = "charter"


def charter_contexts(project: ProjectConfig, result: SyncResult, store: StateStore) -> ContextFor:
    """The charter depends on the config only: purpose, hours, cadence, contacts."""
    calendar = calendar_for(project)

    def context_for(channel: ChannelConfig, language: str) -> Any:
        return charter_context(
            project, audience=channel.audience, language=language, calendar=calendar
        )

    return context_for


@flow(name="charter", flow_run_name=run_name("charter"))
def charter_flow(
    config: str,
    project: str,
    as_of: str | None = None,
    channel: str | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> dict[str, Any]:
    """Send the charter to each of its channels, once (the ledger's period is `once`)."""
    request = ReportRequest(config, project, KIND, as_of, channel, dry_run, force)
    return run_report(request, charter_contexts)
