"""The delivery ledger's rules (SPEC §8): its states, the moves allowed between them, and what
a delivery came to, as the caller sees it.

Pure rules: `connectors/store.py` refuses any move not listed here, so no flow, CLI command or
Prefect callback can put a delivery into a state it must not reach (a rejected report sent, a
sent one claimed again without `--force`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
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
    "unknown": frozenset({"sent", "failed"}),  # a person says what became of it
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
