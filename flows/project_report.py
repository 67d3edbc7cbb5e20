"""The `project-report` flow: the project wrap-up (项目总结), when the last stage completes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flows.engine import flow
from flows.reports import ReportRequest, Scene, run_name, run_report
from flows.runtime import finish
from stagecast.config import ChannelConfig
from stagecast.output import RunResult
from stagecast.reports.context import project_report_context

if TYPE_CHECKING:
    from prefect.states import State


KIND = "project_report"


def project_context(scene: Scene, channel: ChannelConfig, language: str) -> Any:
    """The whole project at this snapshot, with its history for time blocked and baselines."""
    return project_report_context(
        scene.project,
        scene.snapshot,
        scene.history,
        audience=channel.audience,
        language=language,
        calendar=scene.calendar,
    )


@flow(name="project-report", flow_run_name=run_name("project-report"))
def project_report_flow(
    config: str,
    project: str,
    as_of: str | None = None,
    channel: str | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> RunResult | State:
    """Sync the project, then send its wrap-up: every stage planned vs actual, what was
    delivered, the problems and how they were solved, decisions, and what is handed over."""
    request = ReportRequest(config, project, KIND, as_of, channel, dry_run, force)
    return finish(run_report(request, project_context))
