"""The `risk-alert` flow: one risk, its subject and what it threatens, to the alert's channels."""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow

from connectors.store import StateStore
from flows.reports import ContextFor, ReportRequest, run_name, run_report
from flows.sync import SyncResult
from stagecast.config import ChannelConfig, ProjectConfig
from stagecast.evaluate import calendar_for
from stagecast.models import SEVERITY_RANK, RiskFlag, Snapshot
from stagecast.reports.context import INTERNAL_CODES, risk_alert_context

KIND = "risk_alert"
log = logging.getLogger("stagecast.reports")


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


def risk_contexts(risk: str) -> Any:
    """The alert's context per channel that should hear about this risk."""

    def contexts(project: ProjectConfig, result: SyncResult, store: StateStore) -> ContextFor:
        snapshot = result.snapshot
        flag = find_risk(snapshot, risk)
        if flag is None:
            log.warning(
                "%s: risk %s is not raised at %s: nothing sent", project.key, risk, snapshot.as_of
            )
            return lambda channel, language: None
        history = store.history(project.key, snapshot.as_of)
        calendar = calendar_for(project)

        def context_for(channel: ChannelConfig, language: str) -> Any:
            if not alert_wanted(project, flag, channel):
                return None
            return risk_alert_context(
                project,
                snapshot,
                flag,
                history,
                audience=channel.audience,
                language=language,
                calendar=calendar,
            )

        return context_for

    return contexts


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
    return run_report(request, risk_contexts(risk))
