"""The delivery ledger's rules (SPEC §8): its states, the moves allowed between them, and what
a delivery came to, as the caller sees it.

Pure rules: `connectors/store.py` refuses any move not listed here, so no flow, CLI command or
Prefect callback can put a delivery into a state it must not reach (a rejected report sent, a
sent one claimed again without `--force`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

LedgerStatus = Literal[
    "deferred",
    "awaiting_approval",
    "approved",
    "rejected",
    "sending",
    "sent",
    "failed",
    "held",
    "unknown",
    "expired",
]
LEDGER_STATES: frozenset[str] = frozenset(get_args(LedgerStatus))

# What a new delivery may start as: the outcome of `stagecast.delivery.decide`.
INITIAL: frozenset[str] = frozenset({"sending", "deferred", "awaiting_approval", "held"})

# Where each state may go. Moves back into a decision (deferred, awaiting_approval, held,
# sending) happen when a report of the same key is asked for again and may be decided afresh.
_DECIDE_AGAIN = frozenset({"sending", "deferred", "awaiting_approval", "held"})
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "deferred": _DECIDE_AGAIN | {"expired", "failed"},
    "awaiting_approval": frozenset({"approved", "rejected", "expired", "failed"}),
    "approved": frozenset({"sending", "expired", "failed"}),
    "rejected": frozenset(),
    "sending": frozenset({"sent", "failed", "unknown"}),
    "sent": frozenset({"sending"}),  # only `--force`
    "failed": _DECIDE_AGAIN | {"expired", "failed"},
    "held": _DECIDE_AGAIN | {"expired", "failed"},
    # A person (or the slow sender's late answer) says what became of it; `--force` resends.
    "unknown": frozenset({"sent", "failed", "sending"}),
    "expired": _DECIDE_AGAIN,
}

# States a new run of the same report (same key) may decide afresh.
REDECIDE: frozenset[str] = frozenset({"failed", "expired", "held", "deferred"})
# What `deliver-pending` picks up, in this order.
PENDING: tuple[str, ...] = ("deferred", "approved", "failed")
# Unsent daily updates that a newer one for the same channel makes pointless.
SUPERSEDED: frozenset[str] = frozenset(
    {"deferred", "awaiting_approval", "approved", "failed", "held"}
)
# Outcomes that make a command exit 1: the client did not get what the run was for.
BAD_OUTCOMES: frozenset[str] = frozenset({"failed", "held", "unknown"})


# A transient failure waits this long before `deliver-pending` tries it again (doubling per
# attempt, capped): a platform that is down for hours is not hammered every 15 minutes.
RETRY_BASE = timedelta(minutes=5)
RETRY_CAP = timedelta(hours=2)


def may_move(current: str, new: str) -> bool:
    """Whether the ledger allows a delivery in `current` to go to `new`."""
    return new in TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True)
class DeliveryOutcome:
    """What became of one report for one channel in this run.

    `status` is a ledger state, or `duplicate` (already sent, not sent again) or `dry_run`.
    `preview` is the rendering a dry run shows instead of sending.
    """

    project: str
    report: str
    channel: str
    status: str
    id: str | None = None
    not_before: datetime | None = None
    preview: str | None = None
    error: str | None = None

    @property
    def bad(self) -> bool:
        """The report did not reach the client and nobody decided that it should not."""
        return self.status in BAD_OUTCOMES


def retry_delay(attempts: int) -> timedelta:
    """How long a delivery that failed `attempts` times in a row waits before the next try."""
    return min(RETRY_CAP, RETRY_BASE * (1 << min(max(0, attempts - 1), 16)))


@dataclass(frozen=True)
class Recovery:
    """What becomes of a claim whose owner stopped renewing it (SPEC §8, crash recovery)."""

    status: LedgerStatus
    note: str


def recover(owner: str | None, parts_done: int, in_flight: int | None) -> Recovery:
    """A dead claim is resent only when no request of it can have reached the platform.

    `in_flight` is the part whose request had left (or was leaving) when the owner stopped: its
    fate is unknown, so a person decides. Without one, every request the owner made was
    answered, so the rest can be sent from the first part not delivered.
    """
    who = owner or "an earlier run"
    if in_flight is None:
        if parts_done == 0:
            return Recovery("failed", f"{who} stopped before any request left; it will be sent")
        return Recovery(
            "failed",
            f"{who} stopped after delivering part {parts_done}, before the next request left;"
            f" it will be sent from part {parts_done + 1}",
        )
    return Recovery(
        "unknown",
        f"{who} stopped while part {in_flight} was on its way: it may have been delivered;"
        " a person decides (stagecast resolve)",
    )
