"""Deliver a rendered report to one channel, through the ledger, exactly once per period.

The ledger key is (project, report kind, period, channel): a key already `sent` is never sent
again — a re-run of the same day, a Prefect retry, or a second worker racing the first — unless
the user asks with `--force`, which is logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.channels.base import ChannelContext, DeliveryError, build_channel
from connectors.store import LedgerConflict, LedgerEntry, StateStore, delivery_key
from stagecast.config import ChannelConfig
from stagecast.models import Message

log = logging.getLogger("stagecast.delivery")


@dataclass(frozen=True)
class DeliveryRequest:
    """One report for one channel, and how to treat it."""

    message: Message
    channel: ChannelConfig
    context: ChannelContext
    as_of: datetime
    force: bool = False
    dry_run: bool = False


def delivery_json(
    entry: LedgerEntry | None, request: DeliveryRequest, status: str
) -> dict[str, Any]:
    """A delivery as the `--json` document shows it."""
    not_before = entry.not_before.isoformat() if entry and entry.not_before else None
    result: dict[str, Any] = {
        "id": entry.id if entry else None,
        "report": request.message.kind,
        "channel": request.channel.name,
        "status": status,
        "not_before": not_before,
    }
    if request.dry_run:
        result["preview"] = request.message.markdown
    return result


def deliver(store: StateStore, request: DeliveryRequest) -> dict[str, Any]:
    """Record, send and settle one delivery; failures stay in the ledger to be retried."""
    if request.dry_run:
        return delivery_json(None, request, "dry_run")
    message = request.message
    fresh = LedgerEntry(
        key=delivery_key(message.project, message.kind, message.period, request.channel.name),
        project=message.project,
        report=message.kind,
        period=message.period,
        channel=request.channel.name,
        status="sending",
        content=_content(message, request.as_of),
    )
    entry = store.record_delivery(fresh)
    if entry.id != fresh.id:
        claimed = _claim_existing(store, entry, request)
        if claimed is None:
            return delivery_json(
                entry, request, "duplicate" if entry.status == "sent" else entry.status
            )
        entry = claimed
    return _send(store, entry, request)


def _claim_existing(
    store: StateStore, entry: LedgerEntry, request: DeliveryRequest
) -> LedgerEntry | None:
    """Take over an earlier entry of the same key if it may be sent (again); else None."""
    retry_from = {"failed", "expired"} | ({"sent"} if request.force else set())
    if entry.status not in retry_from:
        return None
    if entry.status == "sent":
        log.warning("--force: sending %s %s to %s again", entry.report, entry.period, entry.channel)
    try:
        return store.set_status(
            entry.id,
            "sending",
            expect=retry_from,
            content=_content(request.message, request.as_of),
        )
    except LedgerConflict:
        return None


def _send(store: StateStore, entry: LedgerEntry, request: DeliveryRequest) -> dict[str, Any]:
    """Hand the message to the channel and record what happened."""
    try:
        receipt = build_channel(request.channel, request.context).send(request.message)
    except DeliveryError as err:
        log.error("delivery %s to %s failed: %s", entry.id, entry.channel, err)
        failed = store.set_status(
            entry.id, "failed", attempts=entry.attempts + 1, last_error=str(err)
        )
        return delivery_json(failed, request, "failed")
    sent = store.set_status(
        entry.id, "sent", attempts=entry.attempts + 1, last_error=None, receipt=receipt.target
    )
    return delivery_json(sent, request, "sent")


def _content(message: Message, as_of: datetime) -> dict[str, Any]:
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
