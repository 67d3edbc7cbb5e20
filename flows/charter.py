"""The `charter` flow: the group's rules and expectations, once per channel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flows.engine import flow
from flows.reports import ReportRequest, Scene, run_name, run_report
from flows.runtime import finish
from stagecast.config import ChannelConfig
from stagecast.output import RunResult
from stagecast.reports.context import charter_context

if TYPE_CHECKING:
    from prefect.states import State


KIND = "charter"


def charter_context_for(scene: Scene, channel: ChannelConfig, language: str) -> Any:
    """The charter depends on the config only: purpose, hours, cadence, contacts."""
    return charter_context(
        scene.project, audience=channel.audience, language=language, calendar=scene.calendar
    )


@flow(name="charter", flow_run_name=run_name("charter"))
def charter_flow(
    config: str,
    project: str,
    as_of: str | None = None,
    channel: str | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> RunResult | State:
    """Send the charter to each of its channels, once (the ledger's period is `once`)."""
    request = ReportRequest(config, project, KIND, as_of, channel, dry_run, force)
    return finish(run_report(request, charter_context_for))
