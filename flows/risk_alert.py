"""The `risk-alert` flow: one risk, its subject and what it threatens, to the alert's channels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flows.engine import flow
from flows.reports import BuildContext, ReportRequest, Scene, run_name, run_report
from flows.runtime import finish
from stagecast.alerts import alert_wanted, find_risk
from stagecast.config import ChannelConfig
from stagecast.output import RunResult
from stagecast.reports.context import risk_alert_context

if TYPE_CHECKING:
    from prefect.states import State


KIND = "risk_alert"


def risk_context(risk: str) -> BuildContext:
    """The alert of one raised risk (`CODE:SUBJECT`), for the channels that should hear it."""

    def build(scene: Scene, channel: ChannelConfig, language: str) -> Any:
        flag = find_risk(scene.snapshot, risk)
        if flag is None or not alert_wanted(scene.project, flag, channel.audience):
            return None
        return risk_alert_context(
            scene.project,
            scene.snapshot,
            flag,
            scene.history,
            audience=channel.audience,
            language=language,
            calendar=scene.calendar,
        )

    return build


@flow(name="risk-alert", flow_run_name=run_name("risk-alert"))
def risk_alert_flow(
    config: str,
    project: str,
    risk: str,
    as_of: str | None = None,
    channel: str | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> RunResult | State:
    """Sync the project, then alert the alert's channels to one raised risk (`CODE:SUBJECT`)."""
    request = ReportRequest(config, project, KIND, as_of, channel, dry_run, force)
    return finish(run_report(request, risk_context(risk)))
