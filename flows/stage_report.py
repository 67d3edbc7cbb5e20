"""The `stage-report` flow: what a stage delivered, the problems met and how they were solved."""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow

from connectors.store import StateStore
from flows.reports import ContextFor, ReportRequest, run_name, run_report
from flows.sync import SyncResult
from stagecast.config import ChannelConfig, ProjectConfig
from stagecast.evaluate import calendar_for
from stagecast.models import Snapshot
from stagecast.reports.context import stage_report_context

KIND = "stage_report"
log = logging.getLogger("stagecast.reports")


def stage_key(snapshot: Snapshot, stage: str) -> str | None:
    """A stage named by its name or its key."""
    for s in snapshot.stages:
        if stage in (s.name, s.key):
            return s.key
    return None


def stage_contexts(stage: str) -> Any:
    """The stage report's context per channel, with the project's history for the span."""

    def contexts(project: ProjectConfig, result: SyncResult, store: StateStore) -> ContextFor:
        snapshot = result.snapshot
        key = stage_key(snapshot, stage)
        if key is None:
            log.warning(
                "%s has no stage %r at %s: nothing sent", project.key, stage, snapshot.as_of
            )
            return lambda channel, language: None
        history = [
            s for s in store.history(project.key, snapshot.as_of) if s.as_of < snapshot.as_of
        ]
        calendar = calendar_for(project)

        def context_for(channel: ChannelConfig, language: str) -> Any:
            return stage_report_context(
                project,
                snapshot,
                key,
                history,
                audience=channel.audience,
                language=language,
                calendar=calendar,
            )

        return context_for

    return contexts


@flow(name="stage-report", flow_run_name=run_name("stage-report"))
def stage_report_flow(
    config: str,
    project: str,
    stage: str,
    as_of: str | None = None,
    channel: str | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> dict[str, Any]:
    """Sync the project, then report on one stage to the stage report's channels."""
    request = ReportRequest(config, project, KIND, as_of, channel, dry_run, force)
    return run_report(request, stage_contexts(stage))
