"""The `deliver-pending` flow (every 15 minutes when served): what is due now.

- deferred client reports whose working window opened, approved reports, earlier failures;
- client reports that waited longer than their channel's `approval_timeout` expire (the team
  is told);
- a daily (or weekly) update that was missed (the server or the serving process was down at its
  time) is caught up, once, covering everything since the last one sent.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from connectors.state import state_store
from connectors.store import StateStore
from flows.delivery import deliver_pending
from flows.engine import flow
from flows.runtime import deployed_run, finish
from flows.team_alert import expire_approvals, tell_team_of_unknown
from stagecast.calendar import parse_as_of
from stagecast.config import Config, ProjectConfig, load_config
from stagecast.ledger import DeliveryOutcome
from stagecast.output import PendingRun
from stagecast.schedule import missed_occurrence

if TYPE_CHECKING:
    from prefect.states import State


log = logging.getLogger("stagecast.deliver_pending")

# The kinds a catch-up makes, with their deployment's flow name.
SCHEDULED_FLOWS = {"daily_update": "daily-update", "weekly_update": "weekly-update"}


def _run_name() -> str:
    """`deliver-pending-2026-11-23T09:00:00+08:00`."""
    from prefect.runtime import flow_run

    return f"deliver-pending-{flow_run.parameters.get('as_of') or 'now'}"


def period_days(kind: str, period: str) -> set[date]:
    """The days a ledger period covers: its day, or the seven days of its ISO week."""
    try:
        if kind == "weekly_update":
            monday = datetime.strptime(f"{period}-1", "%G-W%V-%u").date()
            return {monday + timedelta(days=i) for i in range(7)}
        return {date.fromisoformat(period)}
    except ValueError:
        return set()


def recorded_days(store: StateStore, project: str, kind: str = "daily_update") -> set[date]:
    """The days an update of this kind is in the ledger for (sent or not)."""
    days: set[date] = set()
    for d in store.deliveries(project=project):
        if d.report == kind:
            days |= period_days(kind, d.period)
    return days


def missed_updates(
    store: StateStore, config: Config, as_of: datetime
) -> list[tuple[ProjectConfig, str, datetime]]:
    """Projects whose latest daily (or weekly) update is due but was never made, with the kind
    and its occurrence."""
    missed = []
    for project in config.projects:
        for kind in SCHEDULED_FLOWS:
            rule = project.reports.by_kind().get(kind)
            if rule is None or rule.cron is None:
                continue
            recorded = recorded_days(store, project.key, kind)
            due = missed_occurrence(rule.cron, project.tz, as_of, recorded)
            if due is not None:
                missed.append((project, kind, due))
    return missed


def catch_up(
    config: str, project: ProjectConfig, kind: str, due: datetime, as_of: datetime
) -> list[DeliveryOutcome]:
    """Make the missed update, evaluated at `as_of`: as its own run of the kind's deployment
    when served (it shows in the UI as any other), else right here."""
    log.warning("%s: the %s due %s was missed; catching up", project.key, kind, due)
    run = deployed_run()
    if run is not None:
        from prefect.deployments import run_deployment
        from prefect.runtime import deployment

        run_deployment(
            f"{SCHEDULED_FLOWS[kind]}/{deployment.name}",
            parameters={"config": config, "project": project.key, "due": due.isoformat()},
            timeout=0,
            as_subflow=False,
        )
        return []
    from flows.daily_update import daily_context
    from flows.reports import ReportRequest, run_report
    from flows.weekly_update import weekly_context

    build = weekly_context if kind == "weekly_update" else daily_context
    request = ReportRequest(config, project.key, kind, as_of.isoformat(), period_date=due.date())
    return [d for p in run_report(request, build).projects for d in p.deliveries]


@flow(name="deliver-pending", flow_run_name=_run_name)
def deliver_pending_flow(config: str, as_of: str | None = None) -> PendingRun | State:
    """Send what is due now (nothing outside a client's working hours), expire reports that
    waited too long for approval, and catch up a missed daily or weekly update."""
    loaded = load_config(config)
    moment = parse_as_of(as_of, loaded.tz) if as_of else datetime.now(loaded.tz)
    with state_store(loaded.state, loaded.outbox) as store:
        outcomes = expire_approvals(store, loaded, moment)
        outcomes += deliver_pending(store, loaded, moment)
        outcomes += tell_team_of_unknown(store, loaded, outcomes, moment)
        missed = missed_updates(store, loaded, moment)
    for project, kind, due in missed:
        outcomes += catch_up(config, project, kind, due, moment)
    return finish(PendingRun(moment, outcomes))
