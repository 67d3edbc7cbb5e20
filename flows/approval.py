"""Approval of client reports in the Prefect UI (SPEC §8): the run waits, holding no process.

A report run (from a deployment) whose client report lands `awaiting_approval` suspends itself
with a typed run input (`Decision`). The Prefect UI shows the run as Suspended with a Resume
form (approve, reason, by) and the reports in question; `stagecast approve|reject ID` decides
in the ledger and resumes the same run. Prefect then runs the flow again from the start: it
sees it was resumed, skips the sync, records the decision in the ledger (unless the CLI already
did) and sends the approved reports that may go out now; outside the client's working hours
they stay `approved` for `deliver-pending`.

No Prefect timeout is set on the suspension: the ledger owns expiry (`approval_timeout`), so
`deliver-pending` expires the report, tells the team and cancels the waiting run. A run that
Prefect had timed out would end Failed and raise a second, misleading alert.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from prefect.input import RunInput

from connectors.store import LedgerConflict, LedgerEntry, StateStore
from flows.delivery import decide_approval, deliver_if_due, message_of, outcome_of
from flows.runtime import APPROVAL_PAUSE
from stagecast.config import Config
from stagecast.ledger import DeliveryOutcome

log = logging.getLogger("stagecast.approval")

PREVIEW_CHARS = 3000


class Decision(RunInput):
    """Approve or reject the client reports this run is waiting on."""

    approve: bool
    reason: str | None = None
    by: str | None = None


def describe(waiting: Sequence[LedgerEntry]) -> str:
    """What the person deciding sees above the Resume form: each report and its text."""
    parts = [
        "**Approve or reject these client reports.** Approving sends them now, or at the start "
        "of the client's next working window; rejecting (give a reason) sends nothing.",
    ]
    for entry in waiting:
        markdown = message_of(entry).markdown
        if len(markdown) > PREVIEW_CHARS:
            markdown = markdown[:PREVIEW_CHARS] + "\n\n…"
        parts.append(
            f"---\n\n**{entry.report} {entry.period} → {entry.channel}** (delivery `{entry.id}`; "
            f"or `stagecast approve {entry.id}`)\n\n{markdown}"
        )
    return "\n\n".join(parts)


def wait_for_decision(waiting: Sequence[LedgerEntry]) -> Decision:
    """Suspend this run until a person decides; returns the decision once resumed.

    The first execution never returns (the process exits, the run is Suspended); the execution
    after the resumption gets the input at once.
    """
    from prefect.flow_runs import suspend_flow_run

    form = Decision.with_initial_data(description=describe(waiting))
    for entry in waiting:
        log.info(
            "%s %s for %s awaits approval: resume this run in the UI or `stagecast approve %s`",
            entry.report,
            entry.period,
            entry.channel,
            entry.id,
        )
    return suspend_flow_run(wait_for_input=form, key=APPROVAL_PAUSE, timeout=None)


def apply_decision(
    store: StateStore,
    config: Config,
    entries: Sequence[LedgerEntry],
    decision: Decision,
    as_of: datetime,
) -> list[DeliveryOutcome]:
    """Record the decision on the reports still awaiting it; send the approved ones now if due.

    A report decided meanwhile with `stagecast approve|reject` keeps that decision.
    """
    who = decision.by or "Prefect UI"
    outcomes = []
    for entry in entries:
        current = store.delivery(entry.id) or entry
        if current.status == "awaiting_approval":
            try:
                current = decide_approval(
                    store, entry.id, approve=decision.approve, by=who, reason=decision.reason
                )
                log.info(
                    "%s %s to %s: %s by %s",
                    current.report,
                    current.period,
                    current.channel,
                    current.status,
                    who,
                )
            except LedgerConflict:
                current = store.delivery(entry.id) or current
        sent = (
            deliver_if_due(store, config, current, as_of) if current.status == "approved" else None
        )
        outcomes.append(sent or outcome_of(current))
    return outcomes


def resume_waiting_run(store: StateStore, entry: LedgerEntry, by: str) -> str | None:
    """After a CLI decision, resume the run waiting on it once none of its reports still waits.

    Returns what happened, for the user; None when no Prefect run waits on this delivery.
    """
    if entry.flow_run is None:
        return None
    others = store.deliveries(status="awaiting_approval", flow_run=entry.flow_run)
    if others:
        ids = ", ".join(d.id for d in others)
        return f"run {entry.flow_run} keeps waiting for: {ids}"
    from prefect.exceptions import NotPausedError
    from prefect.flow_runs import resume_flow_run

    decision = {"approve": entry.status == "approved", "reason": entry.reason, "by": by}
    try:
        resume_flow_run(UUID(entry.flow_run), run_input=decision)
    except NotPausedError:
        return f"run {entry.flow_run} was not waiting any more"
    except Exception as err:  # the server is down or unknown here: the ledger decision stands
        log.warning("could not resume run %s: %s", entry.flow_run, err)
        return (
            f"run {entry.flow_run} could not be resumed ({type(err).__name__}); "
            "`stagecast deliver-pending` sends what was approved when it is due"
        )
    return f"resumed run {entry.flow_run}"
