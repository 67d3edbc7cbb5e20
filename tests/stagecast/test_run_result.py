"""What a run reports as its problems: the reason a Failed run shows on top in the UI, and how
a team alert finds the projects it concerns."""

from __future__ import annotations

from datetime import UTC, datetime

from stagecast.ledger import DeliveryOutcome
from stagecast.models import Progress, Snapshot, SourceStatus
from stagecast.output import PendingRun, ProjectRun, RunResult

NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)


def snapshot(project: str, *sources: SourceStatus) -> Snapshot:
    return Snapshot(project, NOW, (), (), (), sources, (), Progress(0, 0, None), ())


def test_a_clean_run_has_no_problems() -> None:
    ok = SourceStatus("jira", "jira", True, 3, None, NOW)
    sent = DeliveryOutcome("acme", "daily_update", "team", "sent", "d-1")
    waiting = DeliveryOutcome("acme", "daily_update", "client", "deferred", "d-2")
    assert RunResult(NOW, [ProjectRun(snapshot("acme", ok), (), (sent, waiting))]).problems == []


def test_problems_name_the_project_the_source_and_the_undelivered_report() -> None:
    down = SourceStatus("jira", "jira", False, 3, "HTTP 503 after 5 tries", None)
    failed = DeliveryOutcome("acme", "daily_update", "team", "failed", "d-1", error="HTTP 400")
    held = DeliveryOutcome("beta", "daily_update", "client", "held", "d-2")
    result = RunResult(
        NOW,
        [
            ProjectRun(snapshot("acme", down), (), (failed,)),
            ProjectRun(snapshot("beta"), (), (held,)),
        ],
    )
    assert result.problems == [
        "acme: source jira unavailable: HTTP 503 after 5 tries",
        "acme: daily_update to team failed: HTTP 400",
        "beta: daily_update to client held",
    ]
    assert PendingRun(NOW, [failed, held]).problems == [
        "acme: daily_update to team failed: HTTP 400",
        "beta: daily_update to client held",
    ]
