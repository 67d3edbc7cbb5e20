"""Telling the team: a run that failed or crashed, a client report whose approval expired.

The `team-alert` flow is started by an automation on every stagecast run that ends Failed or
Crashed (`deployments/`), so it also covers a process killed outright, which no flow hook
would see. Alerts go to the project's internal channels through the ledger, so each problem
is told once a day, and never to a client.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any
from uuid import UUID

from connectors.channels.base import ChannelContext
from connectors.state import state_store
from connectors.store import LedgerConflict, StateStore
from flows.delivery import DeliveryRequest, deliver, lease_of, message_of, outcome_of
from flows.engine import flow
from flows.reports import template_dirs
from flows.runtime import finish, run_link
from stagecast.config import Config, ConfigError, ProjectConfig, load_config
from stagecast.evaluate import calendar_for
from stagecast.ledger import DeliveryOutcome
from stagecast.models import Message
from stagecast.output import PendingRun
from stagecast.reports.render import render_report
from stagecast.reports.team_alert import (
    KIND,
    MaybeDelivered,
    RunProblem,
    WaitedTooLong,
    hours,
    team_alert_context,
)

if TYPE_CHECKING:
    from prefect.states import State


log = logging.getLogger("stagecast.team_alert")


def tell_team(
    store: StateStore,
    config: Config,
    project: ProjectConfig,
    as_of: datetime,
    *,
    run: RunProblem | None = None,
    approval: WaitedTooLong | None = None,
    unknown: MaybeDelivered | None = None,
    attached: Message | None = None,
) -> list[DeliveryOutcome]:
    """Render the team alert for each internal channel and deliver it (once per its period);
    `attached` (the report it is about) follows the alert."""
    calendar = calendar_for(project)
    channels = project.internal_channels()
    if not channels:
        log.warning("%s: no internal channel to tell about %s", project.key, run or approval)
    outcomes = []
    for channel in channels:
        language = channel.language or project.language
        context = team_alert_context(
            project,
            as_of,
            language=language,
            calendar=calendar,
            run=run,
            approval=approval,
            unknown=unknown,
        )
        message = render_report(
            KIND,
            context,
            language=language,
            audience="internal",
            template_dirs=template_dirs(config, project),
        )
        if attached is not None:
            message = with_attachment(message, attached)
        where = ChannelContext(project=project.key, outbox=config.outbox)
        request = DeliveryRequest(message, channel, where, as_of, calendar, lease=lease_of(config))
        outcomes.append(deliver(store, request))
    return outcomes


def tell_team_of_unknown(
    store: StateStore, config: Config, outcomes: Sequence[DeliveryOutcome], as_of: datetime
) -> list[DeliveryOutcome]:
    """Each delivery that ended `unknown` (its request left without an answer) is told to the
    project's internal channels, with the report, so a person looks and decides."""
    told: list[DeliveryOutcome] = []
    for outcome in outcomes:
        entry = store.delivery(outcome.id) if outcome.status == "unknown" and outcome.id else None
        if entry is None or entry.report == KIND:
            continue  # an alert about an alert would go the same uncertain way
        try:
            project = config.project(entry.project)
        except ConfigError:
            continue
        about = MaybeDelivered(
            entry.report, entry.period, entry.channel, entry.id, entry.last_error or "no answer"
        )
        told += tell_team(store, config, project, as_of, unknown=about, attached=message_of(entry))
    return told


def with_attachment(alert: Message, report: Message) -> Message:
    """The alert followed by the report it is about (chat: its sections; email: its text)."""
    rule = "\n\n" + "—" * 24 + "\n\n"
    html = alert.html
    if html is not None:
        quoted = f'<pre style="white-space:pre-wrap;">{escape(report.text)}</pre>'
        html = html.replace("</body>", f"<hr>{quoted}</body>", 1)
    sections = alert.sections or (alert.markdown,)
    return replace(
        alert,
        markdown=alert.markdown + "\n\n" + report.markdown,
        text=alert.text + rule + report.text,
        html=html,
        sections=(*sections, *(report.sections or (report.markdown,))),
    )


def concerned(config: Config, parameters: dict[str, Any], reason: str) -> list[ProjectConfig]:
    """The projects a failed run is about: its `project`, else those its reason names, else all.

    A sync of every project that failed for one of them tells only that project's team.
    """
    named = parameters.get("project")
    if named:
        return [p for p in config.projects if p.key == named]
    mentioned = [p for p in config.projects if f"{p.key}: " in reason]
    return mentioned or list(config.projects)


def problem_of(flow_run_id: str) -> tuple[RunProblem, dict[str, Any]]:
    """What the Prefect API says about a finished run: flow, name, state, reason, parameters."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import StateType

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(flow_run_id))
        flow_name = client.read_flow(run.flow_id).name
    state = run.state
    crashed = state is not None and state.type == StateType.CRASHED
    reason = (state.message if state is not None else None) or "no reason recorded"
    problem = RunProblem(
        flow=flow_name,
        run_name=run.name,
        state="crashed" if crashed else "failed",
        reason=reason,
        link=run_link(flow_run_id),
    )
    return problem, dict(run.parameters)


def _run_name() -> str:
    from prefect.runtime import flow_run

    return f"team-alert-{flow_run.parameters.get('flow_run_id', '')}"


@flow(name="team-alert", flow_run_name=_run_name)
def team_alert_flow(config: str, flow_run_id: str) -> PendingRun | State:
    """Tell the project's internal channels that a stagecast run failed or crashed, and why."""
    loaded = load_config(config)
    problem, parameters = problem_of(flow_run_id)
    moment = datetime.now(loaded.tz)
    projects = concerned(loaded, parameters, problem.reason)
    log.info("%s %s: %s", problem.run_name, problem.state, problem.reason)
    outcomes: list[DeliveryOutcome] = []
    with state_store(loaded.state, loaded.outbox) as store:
        for project in projects:
            outcomes += tell_team(store, loaded, project, moment, run=problem)
    return finish(PendingRun(moment, outcomes))


def expire_approvals(store: StateStore, config: Config, as_of: datetime) -> list[DeliveryOutcome]:
    """Client reports that waited longer than their channel's `approval_timeout` expire; the
    team is told, and the run that waited on them is cancelled (it holds no process)."""
    outcomes: list[DeliveryOutcome] = []
    for entry in store.deliveries(status="awaiting_approval"):
        try:
            project = config.project(entry.project)
            channel = project.channel(entry.channel)
        except ConfigError:  # no longer configured: nobody to tell
            continue
        since = datetime.fromisoformat(entry.content.get("as_of") or entry.updated_at.isoformat())
        waited = as_of - since
        if waited < channel.approval_timeout:
            continue
        try:
            expired = store.set_status(
                entry.id,
                "expired",
                expect="awaiting_approval",
                last_error=f"no decision within {hours(channel.approval_timeout)} h",
            )
        except LedgerConflict:
            continue  # decided meanwhile
        log.warning("%s %s to %s: approval expired", entry.report, entry.period, entry.channel)
        outcomes.append(outcome_of(expired))
        about = WaitedTooLong(entry.report, entry.period, entry.channel, entry.id, hours(waited))
        outcomes += tell_team(store, config, project, as_of, approval=about)
        cancel_waiting_run(store, expired.flow_run, "approval expired")
    return outcomes


def cancel_waiting_run(store: StateStore, flow_run: str | None, why: str) -> None:
    """Cancel a suspended run once none of its reports awaits a decision any more."""
    if flow_run is None or store.deliveries(status="awaiting_approval", flow_run=flow_run):
        return
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(UUID(flow_run), Cancelled(message=why), force=True)
    except Exception as err:  # no server here: the ledger decision stands
        log.warning("could not cancel run %s: %s", flow_run, err)
