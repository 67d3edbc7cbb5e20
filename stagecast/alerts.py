"""Which risks earn an alert, and for whom (SPEC §7–8).

One rule for the `risk-alert` flow, the deployment's event trigger (which severities start a
run) and the internal alert that replaces a held client report.
"""

from __future__ import annotations

from stagecast.config import ProjectConfig
from stagecast.models import SEVERITY_RANK, RiskFlag, Snapshot
from stagecast.reports.context.common import INTERNAL_CODES

ALERT_KIND = "risk_alert"


def find_risk(snapshot: Snapshot, risk: str) -> RiskFlag | None:
    """The flag named `CODE:SUBJECT` in the snapshot, if it is raised."""
    code, _, subject = risk.partition(":")
    return next((f for f in snapshot.risks if f.code == code and f.subject == subject), None)


def min_severity(project: ProjectConfig) -> str:
    """The project's alert threshold: its `risk_alert.min_severity`, else every severity."""
    rule = project.reports.by_kind().get(ALERT_KIND)
    return rule.min_severity if rule and rule.min_severity else "low"


def alerting_severities(project: ProjectConfig) -> list[str]:
    """The severities at or above the project's threshold, highest first."""
    floor = SEVERITY_RANK[min_severity(project)]
    return [s for s, rank in sorted(SEVERITY_RANK.items(), key=lambda kv: kv[1]) if rank <= floor]


def alert_wanted(project: ProjectConfig, flag: RiskFlag, audience: str) -> bool:
    """At or above the project's threshold, and nothing internal for a client."""
    if audience == "client" and flag.code in INTERNAL_CODES:
        return False
    return flag.severity in alerting_severities(project)
