"""The `weekly-update` flow: sync a project, then render and deliver its weekly update (周报)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from flows.engine import flow
from flows.reports import ReportRequest, Scene, run_name, run_report, scheduled
from flows.runtime import finish
from stagecast.config import ChannelConfig
from stagecast.output import RunResult
from stagecast.reports.context import weekly_update_context

if TYPE_CHECKING:
    from prefect.states import State


KIND = "weekly_update"


def weekly_context(scene: Scene, channel: ChannelConfig, language: str) -> Any:
    """The ISO week of the day the update is for, with the history to date its risks."""
    return weekly_update_context(
        scene.project,
        scene.snapshot,
        scene.history,
        audience=channel.audience,
        language=language,
        calendar=scene.calendar,
        for_date=scene.period_date,
    )


@flow(name="weekly-update", flow_run_name=run_name("weekly-update"))
def weekly_update_flow(
    config: str,
    project: str,
    as_of: str | None = None,
    channel: str | None = None,
    dry_run: bool = False,
    force: bool = False,
    due: str | None = None,
) -> RunResult | State:
    """Sync the project, then render its weekly update and deliver it to the report's channels.

    `due` is the schedule occurrence the update is for (its week), when a catch-up names it.
    """
    request = scheduled(ReportRequest(config, project, KIND, as_of, channel, dry_run, force), due)
    if request is None:
        return RunResult(datetime.now().astimezone(), [])
    return finish(run_report(request, weekly_context))
