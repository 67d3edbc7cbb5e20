"""The channel contract: take a rendered `Message`, deliver it, return a receipt or raise.

Obligations of every channel:
- `send(message, parts)` delivers the message (in numbered parts if the platform needs them)
  from part `parts.first` on, or raises `DeliveryError`; `retryable=True` only when trying again
  later can succeed, `maybe_delivered=True` when a request left and its fate is unknown (a
  timeout after the body was sent): that one is never retried automatically.
- Before each part's request leaves it calls `parts.leaving(i)`, after a definite answer
  `parts.delivered(i)` or `parts.unsent()`: the ledger then knows, after a crash, whether the
  platform can have received anything it has not recorded.
- Nothing a channel raises or returns contains a secret (webhook URLs and keys included).
- A channel never decides *whether* to send (quiet hours, approval, duplicates): the ledger does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stagecast.config import ChannelConfig
from stagecast.models import Message


class DeliveryError(Exception):
    """A delivery that did not happen; `retryable` says whether a later try may succeed;
    `maybe_delivered` that a request left and got no answer, so it may have arrived."""

    def __init__(self, message: str, *, retryable: bool, maybe_delivered: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable and not maybe_delivered
        self.maybe_delivered = maybe_delivered

    def __reduce__(self) -> tuple[object, ...]:
        """Survive pickling (Prefect moves exceptions between processes)."""
        return (_delivery_error, (str(self), self.retryable, self.maybe_delivered))


def _delivery_error(message: str, retryable: bool, maybe: bool = False) -> DeliveryError:
    return DeliveryError(message, retryable=retryable, maybe_delivered=maybe)


class PartLog(Protocol):
    """Where a channel records, part by part, what the platform can have received."""

    @property
    def first(self) -> int:
        """The first part to send (1-based): earlier ones were delivered by an earlier try."""
        ...

    def leaving(self, part: int) -> None:
        """The request of `part` is about to leave."""
        ...

    def delivered(self, part: int) -> None:
        """The platform took `part`."""
        ...

    def unsent(self) -> None:
        """The request in flight got a definite refusal, or never left."""
        ...


class NoPartLog:
    """For sends outside the ledger (tests, previews): every part, nothing recorded."""

    first = 1

    def leaving(self, part: int) -> None:
        """Nothing to record."""

    def delivered(self, part: int) -> None:
        """Nothing to record."""

    def unsent(self) -> None:
        """Nothing to record."""


NO_PART_LOG = NoPartLog()


@dataclass(frozen=True)
class Receipt:
    """What a channel reports back: where the message went, in how many parts."""

    channel: str
    target: str
    parts: int = 1


class Channel(Protocol):
    """A delivery target chosen by the config's `type`."""

    name: str

    def send(self, message: Message, parts: PartLog = NO_PART_LOG) -> Receipt: ...


@dataclass(frozen=True)
class ChannelContext:
    """What channels may need beyond their own config: where the outbox is, whose project."""

    project: str
    outbox: Path


ChannelFactory = Callable[[ChannelConfig, ChannelContext], Channel]


def build_channel(cfg: ChannelConfig, ctx: ChannelContext) -> Channel:
    """The channel for a config entry (`connectors.plugins.CHANNELS`); a type without a
    sender fails that delivery only."""
    from connectors.plugins import CHANNELS

    plugin = CHANNELS.get(cfg.type)
    if plugin is None:
        raise DeliveryError(
            f"channel '{cfg.name}': sending to {cfg.type} is not available in this version",
            retryable=False,
        )
    factory: ChannelFactory = plugin.factory()
    return factory(cfg, ctx)
