"""The `deliver-pending` flow: send deferred, approved and failed deliveries that are due."""

from __future__ import annotations

from datetime import datetime

from prefect import flow
from prefect.states import State

from connectors.store import StateStore
from flows.delivery import deliver_pending
from flows.runtime import finish
from stagecast.calendar import parse_as_of
from stagecast.config import load_config
from stagecast.output import PendingRun


def _run_name() -> str:
    """`deliver-pending-2026-11-23T09:00:00+08:00`."""
    from prefect.runtime import flow_run

    return f"deliver-pending-{flow_run.parameters.get('as_of') or 'now'}"


@flow(name="deliver-pending", flow_run_name=_run_name)
def deliver_pending_flow(config: str, as_of: str | None = None) -> PendingRun | State:
    """Send what is due now: client reports whose working window opened, approved reports,
    and earlier failures; nothing outside a client's working hours."""
    loaded = load_config(config)
    moment = parse_as_of(as_of, loaded.tz) if as_of else datetime.now(loaded.tz)
    with StateStore(loaded.state) as store:
        sent = deliver_pending(store, loaded, moment)
    return finish(PendingRun(moment, sent))
