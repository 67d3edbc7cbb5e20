"""Deliver rendered reports through the ledger: exactly once per period, never outside the
client's working hours, never built on stale data, never lost.

The ledger key is (project, report kind, period, channel). A key already `sent` is never sent
again — a re-run of the same day, a Prefect retry, a second worker racing the first — unless
the user asks with `--force` (logged). Client reports outside working hours wait as `deferred`
until `deliver-pending` finds their window open; failures stay `failed` and are retried there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.channels.base import ChannelContext, DeliveryError, build_channel
from connectors.store import LedgerConflict, LedgerEntry, StateStore, delivery_key
from stagecast.calendar import WorkCalendar
from stagecast.config import ChannelConfig, Config, ConfigError
from stagecast.delivery import Decision, decide, when_allowed
from stagecast.evaluate import calendar_for
from stagecast.ledger import PENDING, REDECIDE, SUPERSEDED, DeliveryOutcome
from stagecast.models import Message

log = logging.getLogger("stagecast.delivery")


@dataclass(frozen=True)
class DeliveryRequest:
    """One report for one channel, and how to treat it."""

    message: Message
    channel: ChannelConfig
    context: ChannelContext
    as_of: datetime
    calendar: WorkCalendar
    stale_sources: Sequence[str] = ()
    force: bool = False
    dry_run: bool = False
    flow_run: str | None = None  # the deployed run that would wait on an approval

    def decision(self) -> Decision:
        """Freshness, approval, then quiet hours."""
        return decide(
            audience=self.channel.audience,
            approval=self.channel.approval,
            calendar=self.calendar,
            as_of=self.as_of,
            stale_sources=self.stale_sources,
        )


def outcome_of(entry: LedgerEntry, status: str | None = None) -> DeliveryOutcome:
    """What a ledger entry came to, as the run reports it."""
    return DeliveryOutcome(
        project=entry.project,
        report=entry.report,
        channel=entry.channel,
        status=status or entry.status,
        id=entry.id,
        not_before=entry.not_before,
        error=entry.last_error,
    )


def deliver(store: StateStore, request: DeliveryRequest) -> DeliveryOutcome:
    """Record, decide and (when allowed) send one delivery."""
    message = request.message
    if request.dry_run:
        return DeliveryOutcome(
            message.project, message.kind, request.channel.name, "dry_run", preview=message.markdown
        )
    decision = request.decision()
    fresh = _entry_for(request, decision)
    entry = store.record_delivery(fresh)
    if entry.id == fresh.id:
        _expire_older(store, entry)
    else:
        redone = _redecide(store, entry, request, decision)
        if redone is None:
            return outcome_of(entry, "duplicate" if entry.status == "sent" else None)
        entry = redone
    if entry.status != "sending":
        _explain(entry, decision)
        return outcome_of(entry)
    return send_entry(store, entry, request.channel, request.context, message)


def _entry_for(request: DeliveryRequest, decision: Decision) -> LedgerEntry:
    """A new ledger entry in the state the decision puts it."""
    message = request.message
    return LedgerEntry(
        key=delivery_key(message.project, message.kind, message.period, request.channel.name),
        project=message.project,
        report=message.kind,
        period=message.period,
        channel=request.channel.name,
        status="sending" if decision.outcome == "send" else decision.outcome,
        not_before=decision.not_before,
        last_error=decision.reason if decision.outcome == "held" else None,
        content=content_of(message, request.as_of),
        flow_run=request.flow_run,
    )


def _redecide(
    store: StateStore, entry: LedgerEntry, request: DeliveryRequest, decision: Decision
) -> LedgerEntry | None:
    """Take over an earlier entry of the same key if it may be decided again; else None."""
    allowed = REDECIDE | ({"sent"} if request.force else set())
    if entry.status not in allowed:
        return None
    if entry.status == "sent":
        log.warning("--force: sending %s %s to %s again", entry.report, entry.period, entry.channel)
    status = "sending" if decision.outcome == "send" else decision.outcome
    try:
        return store.set_status(
            entry.id,
            status,
            expect=allowed,
            not_before=decision.not_before,
            last_error=decision.reason if decision.outcome == "held" else None,
            content=content_of(request.message, request.as_of),
            flow_run=request.flow_run,
        )
    except LedgerConflict:
        return None


def _expire_older(store: StateStore, entry: LedgerEntry) -> None:
    """A newer daily update makes older unsent ones of the same channel pointless."""
    if entry.report != "daily_update":
        return
    for old in store.deliveries(project=entry.project):
        if (
            old.report == entry.report
            and old.channel == entry.channel
            and old.period < entry.period
            and old.status in SUPERSEDED
        ):
            try:
                store.set_status(old.id, "expired", expect=SUPERSEDED)
            except LedgerConflict:
                continue
            log.info("delivery %s (%s) expired: a newer update replaces it", old.id, old.period)


def _explain(entry: LedgerEntry, decision: Decision) -> None:
    """Say on stderr (and in the UI) why a report was not sent now."""
    if entry.status == "held":
        log.warning("%s to %s held: %s", entry.report, entry.channel, decision.reason)
    elif entry.status == "deferred" and entry.not_before is not None:
        log.info("%s to %s deferred until %s", entry.report, entry.channel, entry.not_before)
    elif entry.status == "awaiting_approval":
        log.info(
            "%s to %s awaits approval: stagecast approve %s", entry.report, entry.channel, entry.id
        )


def send_entry(
    store: StateStore,
    entry: LedgerEntry,
    channel: ChannelConfig,
    context: ChannelContext,
    message: Message,
) -> DeliveryOutcome:
    """Hand a claimed (`sending`) entry's message to the channel and record what happened."""
    try:
        receipt = build_channel(channel, context).send(message)
    except DeliveryError as err:
        log.error("delivery %s to %s failed: %s", entry.id, entry.channel, err)
        failed = store.set_status(
            entry.id, "failed", attempts=entry.attempts + 1, last_error=str(err)
        )
        return outcome_of(failed)
    sent = store.set_status(
        entry.id, "sent", attempts=entry.attempts + 1, last_error=None, receipt=receipt.target
    )
    log.info("%s %s sent to %s (%s)", sent.report, sent.period, sent.channel, receipt.target)
    return outcome_of(sent)


def content_of(message: Message, as_of: datetime) -> dict[str, Any]:
    """What the ledger keeps: enough to send the message later without rendering again."""
    return {
        "as_of": as_of.isoformat(),
        "title": message.title,
        "audience": message.audience,
        "language": message.language,
        "markdown": message.markdown,
        "text": message.text,
        "html": message.html,
        "sections": list(message.sections),
    }


def message_of(entry: LedgerEntry) -> Message:
    """The rendered message an entry holds."""
    c = entry.content
    return Message(
        kind=entry.report,
        project=entry.project,
        period=entry.period,
        audience=c.get("audience", "internal"),
        language=c.get("language", "en"),
        title=c.get("title", ""),
        markdown=c.get("markdown", ""),
        text=c.get("text", ""),
        html=c.get("html"),
        sections=tuple(c.get("sections", ())),
    )


def deliver_pending(store: StateStore, config: Config, as_of: datetime) -> list[DeliveryOutcome]:
    """Send what is due: deferred reports whose window opened, approved ones, failed ones."""
    results = []
    for status in PENDING:
        for entry in store.deliveries(status=status):
            result = deliver_if_due(store, config, entry, as_of)
            if result is not None:
                results.append(result)
    return results


def deliver_if_due(
    store: StateStore, config: Config, entry: LedgerEntry, as_of: datetime
) -> DeliveryOutcome | None:
    """Send one pending entry if its time has come: None while it must still wait, else what
    became of it (sent, failed; None too when another worker claimed it first)."""
    message = message_of(entry)
    if entry.not_before is not None and entry.not_before > as_of:
        return None
    try:
        project = config.project(entry.project)
        channel = project.channel(entry.channel)
    except ConfigError:
        failed = store.set_status(
            entry.id, "failed", last_error="the project or channel is no longer configured"
        )
        return outcome_of(failed)
    decision = when_allowed(channel.audience, calendar_for(project), as_of)
    if decision.outcome == "deferred":
        if entry.status == "deferred":
            store.set_status(entry.id, "deferred", not_before=decision.not_before)
        return None
    try:
        claimed = store.set_status(entry.id, "sending", expect=entry.status)
    except LedgerConflict:
        return None  # another worker took it
    context = ChannelContext(project=project.key, outbox=config.outbox)
    return send_entry(store, claimed, channel, context, message)


def decide_approval(
    store: StateStore, id: str, *, approve: bool, by: str, reason: str | None
) -> LedgerEntry:
    """Approve or reject a delivery awaiting approval, recording who and when."""
    return store.set_status(
        id,
        "approved" if approve else "rejected",
        expect="awaiting_approval",
        decided_by=by,
        decided_at=datetime.now(UTC),
        reason=reason,
    )
