"""The `stage-report` flow: what a stage delivered, the problems met and how they were solved."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flows.engine import flow
from flows.reports import BuildContext, ReportRequest, Scene, run_name, run_report
from flows.runtime import finish
from stagecast.config import ChannelConfig
from stagecast.models import Snapshot
from stagecast.output import RunResult
from stagecast.reports.context import stage_report_context

if TYPE_CHECKING:
    from prefect.states import State


KIND = "stage_report"


def stage_key(snapshot: Snapshot, stage: str) -> str | None:
    """A stage named by its name or its key."""
    for s in snapshot.stages:
        if stage in (s.name, s.key):
            return s.key
    return None


def stage_context(stage: str) -> BuildContext:
    """The report of one stage (by name or key), with the project's history for its span."""

    def build(scene: Scene, channel: ChannelConfig, language: str) -> Any:
        key = stage_key(scene.snapshot, stage)
        if key is None:
            return None
        return stage_report_context(
            scene.project,
            scene.snapshot,
            key,
            scene.history,
            audience=channel.audience,
            language=language,
            calendar=scene.calendar,
        )

    return build


@flow(name="stage-report", flow_run_name=run_name("stage-report"))
def stage_report_flow(
    config: str,
    project: str,
    stage: str,
    as_of: str | None = None,
    channel: str | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> RunResult | State:
    """Sync the project, then report on one stage to the stage report's channels."""
    request = ReportRequest(config, project, KIND, as_of, channel, dry_run, force)
    return finish(run_report(request, stage_context(stage)))
