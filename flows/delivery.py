"""Deliver rendered reports through the ledger: exactly once per period, never outside the
client's working hours, never built on stale data, never lost.

The ledger key is (project, report kind, period, channel). A key already `sent` is never sent
again — a re-run of the same day, a Prefect retry, a second worker racing the first — unless
the user asks with `--force` (logged). Client reports outside working hours wait as `deferred`
until `deliver-pending` finds their window open; failures stay `failed` and are retried there.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from connectors.channels.base import ChannelContext, DeliveryError, build_channel
from connectors.state import SentJournal
from connectors.store import (
    LedgerConflict,
    LedgerEntry,
    StateStore,
    claim_owner,
    delivery_key,
)
from stagecast.calendar import WorkCalendar
from stagecast.config import (
    SCHEDULED_KINDS,
    ChannelConfig,
    Config,
    ConfigError,
    DeliveryConfig,
    SecretRef,
)
from stagecast.delivery import Decision, decide, when_allowed
from stagecast.evaluate import calendar_for
from stagecast.ledger import PENDING, REDECIDE, SUPERSEDED, DeliveryOutcome, retry_delay
from stagecast.models import InlineImage, Message

# What a sender may still record its outcome over: its own claim, or one a recovery marked
# `unknown` because the sender was slow rather than dead (its answer settles the question).
MINE = frozenset({"sending", "unknown"})
DEFAULT_LEASE = timedelta(seconds=DeliveryConfig().claim_timeout_s)

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
    lease: timedelta = DEFAULT_LEASE  # how long a claim lives without being renewed

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
    if not request.force and (earlier := _sent_per_outbox(store, fresh, request.context)):
        return outcome_of(earlier, "duplicate")
    entry = store.record_delivery(fresh)
    # Ours when our row went in: the same id and the same claimant (two racers drawing the same
    # short id, one in 16 million, must not both think they inserted).
    mine = entry.id == fresh.id and entry.claimed_by == fresh.claimed_by
    if not mine and entry.status == "sending":
        entry = _recovered(store, entry)
    if mine:
        _expire_older(store, entry)
    else:
        redone = _redecide(store, entry, request, decision)
        if redone is None:
            # Another run may have taken it since we read it: say what it is now, not then.
            entry = store.delivery(entry.id) or entry
            return outcome_of(entry, "duplicate" if entry.status == "sent" else None)
        entry = redone
    if entry.status != "sending":
        _explain(entry, decision)
        return outcome_of(entry)
    if _partly_delivered(entry):
        message = message_of(entry)  # the rendering whose first parts were delivered
    return send_entry(store, entry, request.channel, request.context, message, request)


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
        **(_claim_fields(request.channel, request.lease) if decision.outcome == "send" else {}),
    )


def _claim_fields(channel: ChannelConfig, lease: timedelta) -> dict[str, Any]:
    """What a fresh claim records: whose it is, until when, with which channel config."""
    return {
        "claimed_by": claim_owner(),
        "lease_until": datetime.now(UTC) + lease,
        "config_hash": channel_hash(channel),
    }


def channel_hash(channel: ChannelConfig) -> str:
    """A fingerprint of a channel's config and of the environment variables its secrets are
    read from (hashed, never kept): a permanent failure is tried again once either changes —
    a fixed webhook key in the environment counts — and a multi-part post resumes only under
    the config that cut it into those parts."""
    digest = hashlib.sha256(channel.model_dump_json(exclude={"approval_timeout"}).encode())
    for ref in _env_refs(channel):
        digest.update(f"\0{ref.name}\0{os.environ.get(ref.name, '')}".encode())
    return digest.hexdigest()[:16]


def _env_refs(channel: ChannelConfig) -> list[SecretRef]:
    """The `env:` secret references anywhere in a channel's config."""
    found: list[SecretRef] = []

    def walk(value: Any) -> None:
        if isinstance(value, SecretRef):
            if value.kind == "env":
                found.append(value)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)

    walk(channel)
    return found


def _sent_per_outbox(
    store: StateStore, fresh: LedgerEntry, context: ChannelContext
) -> LedgerEntry | None:
    """A key the ledger does not know but the outbox's journal shows as sent (the state
    database was lost and recreated): recorded as sent, never sent again."""
    if store.delivery_by_key(fresh.key) is not None:
        return None
    earlier = SentJournal(context.outbox).sent(fresh.project, fresh.key)
    if earlier is None:
        return None
    log.warning(
        "%s %s to %s: the outbox shows it sent (%s) though the ledger had lost it; not sent again",
        fresh.report,
        fresh.period,
        fresh.channel,
        earlier,
    )
    recorded = replace(
        fresh,
        status="sent",
        receipt=f"sent earlier as {earlier} (outbox journal)",
        claimed_by=None,
        lease_until=None,
    )
    return store.record_delivery(recorded)


def _recovered(store: StateStore, entry: LedgerEntry) -> LedgerEntry:
    """An entry found `sending`: if its claim is dead, decide it now (it may then be re-sent
    or become `unknown`); a live claim belongs to a run still sending it."""
    return store.recover_claim(entry.id) or store.delivery(entry.id) or entry


def _redecide(
    store: StateStore, entry: LedgerEntry, request: DeliveryRequest, decision: Decision
) -> LedgerEntry | None:
    """Take over an earlier entry of the same key if it may be decided again; else None."""
    allowed = REDECIDE | ({"sent", "unknown"} if request.force else set())
    if entry.status not in allowed:
        return None
    if entry.status == "sent":
        log.warning("--force: sending %s %s to %s again", entry.report, entry.period, entry.channel)
    status = "sending" if decision.outcome == "send" else decision.outcome
    claim = _claim_fields(request.channel, request.lease) if status == "sending" else {}
    # Some parts already reached the group: finish that rendering rather than start a new one
    # whose first parts would arrive twice (`--force` starts afresh, and says so).
    rendering = (
        {}
        if _partly_delivered(entry) and not request.force
        else {"content": content_of(request.message, request.as_of), "parts_done": 0}
    )
    try:
        return store.set_status(
            entry.id,
            status,
            expect=allowed,
            not_before=decision.not_before,
            last_error=decision.reason if decision.outcome == "held" else None,
            flow_run=request.flow_run,
            in_flight=None,
            retryable=None,
            **rendering,
            **claim,
        )
    except LedgerConflict:
        return None


def _partly_delivered(entry: LedgerEntry) -> bool:
    """Some parts of an unfinished multi-part post were delivered."""
    return entry.parts_done > 0 and entry.status != "sent"


def _expire_older(store: StateStore, entry: LedgerEntry) -> None:
    """A newer daily (or weekly) update makes older unsent ones of the same channel pointless:
    it covers their period too."""
    if entry.report not in SCHEDULED_KINDS:
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


@dataclass(frozen=True)
class LedgerParts:
    """The channel's part log, kept in the ledger row: after a crash the ledger knows whether
    a request can have reached the platform (`stagecast.ledger.recover`)."""

    store: StateStore
    id: str
    first: int
    lease: timedelta

    def leaving(self, part: int) -> None:
        """Recorded before the request leaves; renews the claim."""
        self.store.part_leaving(self.id, part, self.lease)

    def delivered(self, part: int) -> None:
        """Recorded after the platform took it; renews the claim."""
        self.store.part_delivered(self.id, part, self.lease)

    def unsent(self) -> None:
        """A definite refusal: nothing in flight any more."""
        self.store.part_unsent(self.id, self.lease)


@dataclass(frozen=True)
class SendTerms:
    """When a send happens (for a failure's back-off) and how long its claim lives."""

    as_of: datetime
    lease: timedelta = DEFAULT_LEASE


def send_entry(
    store: StateStore,
    entry: LedgerEntry,
    channel: ChannelConfig,
    context: ChannelContext,
    message: Message,
    terms: SendTerms | DeliveryRequest,
) -> DeliveryOutcome:
    """Hand a claimed (`sending`) entry's message to the channel, from the first part not yet
    delivered, and record what happened: `sent`, `failed` (with whether and when to retry) or
    `unknown` (a request left and no answer came)."""
    parts = LedgerParts(store, entry.id, _first_part(entry, channel), terms.lease)
    try:
        receipt = build_channel(channel, context).send(message, parts)
    except LedgerConflict as lost:
        log.error("delivery %s: stopped sending: %s", entry.id, lost)
        return outcome_of(store.delivery(entry.id) or entry)
    except DeliveryError as err:
        return outcome_of(_record_failure(store, entry, channel, err, terms.as_of))
    sent = store.set_status(
        entry.id,
        "sent",
        expect=MINE,
        owner=claim_owner(),
        attempts=entry.attempts + 1,
        last_error=None,
        receipt=receipt.target,
        lease_until=None,
        in_flight=None,
    )
    SentJournal(context.outbox).record(sent.project, sent.key, sent.id)
    log.info("%s %s sent to %s (%s)", sent.report, sent.period, sent.channel, receipt.target)
    return outcome_of(sent)


def _first_part(entry: LedgerEntry, channel: ChannelConfig) -> int:
    """Resume after the parts already delivered, unless the channel's config changed since
    (the report may be cut differently now: send it whole)."""
    if entry.parts_done and entry.config_hash not in (None, channel_hash(channel)):
        log.warning(
            "delivery %s: the channel changed since part %d; sending all parts",
            entry.id,
            entry.parts_done,
        )
        return 1
    return entry.parts_done + 1


def _record_failure(
    store: StateStore,
    entry: LedgerEntry,
    channel: ChannelConfig,
    err: DeliveryError,
    as_of: datetime,
) -> LedgerEntry:
    """`unknown` when the platform may have it; else `failed`, a transient failure with the
    time of its next try (backing off across runs), a permanent one waiting for a change."""
    log.error("delivery %s to %s failed: %s", entry.id, entry.channel, err)
    attempts = entry.attempts + 1
    if err.maybe_delivered:
        return store.set_status(
            entry.id,
            "unknown",
            expect="sending",
            owner=claim_owner(),
            attempts=attempts,
            last_error=str(err),
            lease_until=None,
        )
    return store.set_status(
        entry.id,
        "failed",
        expect=MINE,
        owner=claim_owner(),
        attempts=attempts,
        last_error=str(err),
        retryable=err.retryable,
        config_hash=channel_hash(channel),
        not_before=as_of + retry_delay(attempts) if err.retryable else None,
        lease_until=None,
        in_flight=None,
    )


def content_of(message: Message, as_of: datetime) -> dict[str, Any]:
    """What the ledger keeps: enough to send the message later without rendering again, the
    HTML's images too (a deferred email still shows its chart, whatever the cache holds then)."""
    return {
        "as_of": as_of.isoformat(),
        "title": message.title,
        "audience": message.audience,
        "language": message.language,
        "markdown": message.markdown,
        "text": message.text,
        "html": message.html,
        "sections": list(message.sections),
        "images": [
            {
                "cid": image.cid,
                "filename": image.filename,
                "mime_type": image.mime_type,
                "data": base64.b64encode(image.data).decode("ascii"),
            }
            for image in message.images
        ],
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
        images=tuple(
            InlineImage(i["cid"], i["filename"], base64.b64decode(i["data"]), i["mime_type"])
            for i in c.get("images", ())
        ),
    )


def deliver_pending(
    store: StateStore, config: Config, as_of: datetime, *, force: bool = False
) -> list[DeliveryOutcome]:
    """Send what is due: deferred reports whose window opened, approved ones, failed ones whose
    back-off ran out (a permanent failure only once its channel's config changed, or with
    `force`). Dead claims are decided first, so a crash's delivery is among them."""
    results = recover_dead_claims(store, config)
    for status in PENDING:
        for entry in store.deliveries(status=status):
            result = deliver_if_due(store, config, entry, as_of, force=force)
            if result is not None:
                results.append(result)
    return results


def lease_of(config: Config) -> timedelta:
    """How long a claim lives without being renewed: `delivery.claim_timeout_s`."""
    return timedelta(seconds=config.delivery.claim_timeout_s)


def recover_dead_claims(store: StateStore, config: Config) -> list[DeliveryOutcome]:
    """Decide every `sending` claim whose lease ran out by the clock (its run died): those no
    request of which can have arrived become `failed` and are sent again from the first part
    not delivered; the others become `unknown` (reported, for the team to be told)."""
    outcomes = []
    for id in store.dead_claims(grace=lease_of(config)):
        entry = store.recover_claim(id)
        if entry is None:
            continue
        log.warning(
            "delivery %s (%s %s to %s): %s",
            entry.id,
            entry.report,
            entry.period,
            entry.channel,
            entry.last_error,
        )
        if entry.status == "unknown":
            outcomes.append(outcome_of(entry))
    return outcomes


def deliver_if_due(
    store: StateStore, config: Config, entry: LedgerEntry, as_of: datetime, *, force: bool = False
) -> DeliveryOutcome | None:
    """Send one pending entry if its time has come: None while it must still wait, else what
    became of it (sent, failed; None too when another worker claimed it first)."""
    message = message_of(entry)
    if entry.not_before is not None and entry.not_before > as_of and not force:
        return None
    try:
        project = config.project(entry.project)
        channel = project.channel(entry.channel)
    except ConfigError:
        if entry.status == "failed" and entry.retryable is False:
            return None  # already told
        failed = store.set_status(
            entry.id,
            "failed",
            last_error="the project or channel is no longer configured",
            retryable=False,
        )
        return outcome_of(failed)
    if _waits_for_a_change(entry, channel) and not force:
        return None
    decision = when_allowed(channel.audience, calendar_for(project), as_of)
    if decision.outcome == "deferred":
        if entry.status == "deferred":
            store.set_status(entry.id, "deferred", not_before=decision.not_before)
        return None
    lease = lease_of(config)
    try:
        # Only the delivery as read: one another worker tried meanwhile (and failed, for good
        # or with a back-off) is not tried again on the strength of the old reading.
        claimed = store.claim(
            entry.id,
            expect=entry.status,
            lease=lease,
            unchanged_since=entry.updated_at,
            config_hash=channel_hash(channel),
        )
    except LedgerConflict:
        return None  # another worker took it
    context = ChannelContext(project=project.key, outbox=config.outbox)
    return send_entry(store, claimed, channel, context, message, SendTerms(as_of, lease))


def _waits_for_a_change(entry: LedgerEntry, channel: ChannelConfig) -> bool:
    """A permanent failure (wrong key, refused login…) is not tried again with the config that
    caused it."""
    return (
        entry.status == "failed"
        and entry.retryable is False
        and entry.config_hash == channel_hash(channel)
    )


def resolve(
    store: StateStore, config: Config, id: str, *, delivered: bool, by: str
) -> DeliveryOutcome:
    """A person settles a delivery: `unknown` ones they found (`delivered`) or did not find in
    the channel; a `failed` one they fixed. A resend goes out now when the client's window is
    open (else it waits as a failure due at once, for `deliver-pending`), from the first part
    not known to be delivered."""
    entry = store.delivery(id)
    if entry is None:
        raise KeyError(id)
    now = datetime.now(UTC)
    if delivered:
        sent = store.set_status(
            id,
            "sent",
            expect="unknown",
            decided_by=by,
            decided_at=now,
            receipt=f"confirmed delivered by {by}",
            in_flight=None,
        )
        SentJournal(config.outbox).record(sent.project, sent.key, sent.id)
        return outcome_of(sent)
    again = store.set_status(
        id,
        "failed",
        expect={"unknown", "failed"},
        decided_by=by,
        decided_at=now,
        retryable=True,
        config_hash=None,
        not_before=None,
        in_flight=None,
        last_error=f"to be sent again, as {by} asked",
    )
    return deliver_if_due(store, config, again, now.astimezone(config.tz)) or outcome_of(again)


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
