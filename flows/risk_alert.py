"""The `risk-alert` flow: one risk, its subject and what it threatens, to the alert's channels."""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.reports import BuildContext, ReportRequest, Scene, run_name, run_report
from stagecast.config import ChannelConfig, ProjectConfig
from stagecast.models import SEVERITY_RANK, RiskFlag, Snapshot
from stagecast.reports.context import INTERNAL_CODES, risk_alert_context

KIND = "risk_alert"


def find_risk(snapshot: Snapshot, risk: str) -> RiskFlag | None:
    """The flag named `CODE:SUBJECT` in the snapshot, if it is raised."""
    code, _, subject = risk.partition(":")
    return next((f for f in snapshot.risks if f.code == code and f.subject == subject), None)


def alert_wanted(project: ProjectConfig, flag: RiskFlag, channel: ChannelConfig) -> bool:
    """At or above the alert's `min_severity`, and nothing internal for a client."""
    if channel.audience == "client" and flag.code in INTERNAL_CODES:
        return False
    rule = project.reports.by_kind().get(KIND)
    floor = rule.min_severity if rule and rule.min_severity else "low"
    return SEVERITY_RANK[flag.severity] <= SEVERITY_RANK[floor]


def risk_context(risk: str) -> BuildContext:
    """The alert of one raised risk (`CODE:SUBJECT`), for the channels that should hear it."""

    def build(scene: Scene, channel: ChannelConfig, language: str) -> Any:
        flag = find_risk(scene.snapshot, risk)
        if flag is None or not alert_wanted(scene.project, flag, channel):
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
) -> dict[str, Any]:
    """Sync the project, then alert the alert's channels to one raised risk (`CODE:SUBJECT`)."""
    request = ReportRequest(config, project, KIND, as_of, channel, dry_run, force)
    return run_report(request, risk_context(risk))
