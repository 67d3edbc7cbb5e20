"""A ledger, a config and a fake chat bot for the reliability tests: what a delivery sees."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.channels.base import ChannelContext
from connectors.store import StateStore
from flows.delivery import DeliveryRequest, deliver_pending
from flows.team_alert import tell_team_of_unknown
from stagecast.config import Config, parse_config
from stagecast.evaluate import calendar_for
from stagecast.models import Message
from tests.builders import daily_message
from tests.connectors.fake_webhooks import FakeWebhooks
from tests.postgres import fresh_database, postgres_reachable

AS_OF = datetime.fromisoformat("2026-11-20T10:00:00+08:00")  # a Friday, inside working hours
LEASE = timedelta(milliseconds=200)

CONFIG = """
timezone: Asia/Shanghai
state: {state}
outbox: outbox
projects:
  - key: acme
    name: ACME
    language: en
    sources: [{{type: trello_export, path: board.json}}]
    channels:
      - {channel}
      - {{name: team, type: file, audience: internal}}
    reports:
      daily_update: {{channels: [client-chat]}}
"""


class Crash(BaseException):
    """The process dies here."""


@dataclass
class Rig:
    """A config, its store and a fake chat bot the client channel posts to."""

    config: Config
    store: StateStore
    bot: Any
    outbox: Path

    def request(self, message: Message) -> DeliveryRequest:
        project = self.config.project("acme")
        channel = project.channel("client-chat")
        context = ChannelContext(project="acme", outbox=self.config.outbox)
        return DeliveryRequest(message, channel, context, AS_OF, calendar_for(project), lease=LEASE)

    def after_the_crash(self) -> list[Any]:
        """What the next `deliver-pending` does once the dead claim's lease ran out."""
        time.sleep(LEASE.total_seconds() + 0.2)
        return self.deliver_pending(AS_OF)

    def deliver_pending(self, as_of: datetime = AS_OF) -> list[Any]:
        """What `stagecast deliver-pending` does at `as_of` (its team alerts included)."""
        outcomes = deliver_pending(self.store, self.config, as_of)
        return outcomes + tell_team_of_unknown(self.store, self.config, outcomes, as_of)

    def ledger(self) -> dict[str, Any]:
        entry = next(e for e in self.store.deliveries() if e.channel == "client-chat")
        return {"status": entry.status, "parts_done": entry.parts_done, "id": entry.id}

    def team_alerts(self) -> list[str]:
        folder = self.outbox / "acme" / "team"
        return [p.read_text("utf-8") for p in sorted(folder.glob("team_alert-*.md"))]


def backends() -> list[Any]:
    marks = pytest.mark.skipif(not postgres_reachable(), reason="no PostgreSQL on 127.0.0.1:5432")
    return ["sqlite", pytest.param("postgresql", marks=marks)]


CHAT = '{{name: client-chat, type: {platform}, webhook: "env:RELIABILITY_HOOK", audience: client}}'


@contextmanager
def rigged(tmp_path: Path, backend: str, channel: str, bot: Any = None) -> Iterator[Rig]:
    """A rig whose client channel is `channel` (one YAML flow mapping named client-chat)."""
    with _state_url(backend, tmp_path) as url:
        text = CONFIG.format(state=url, channel=channel)
        (tmp_path / "board.json").write_text("{}", encoding="utf-8")
        config = parse_config(text, tmp_path)
        with StateStore(config.state) as store:
            yield Rig(config, store, bot, config.outbox)


@pytest.fixture(name="rig", params=backends())
def rig_fixture(request, tmp_path, monkeypatch):
    """A WeCom client group on SQLite, then on PostgreSQL."""
    with FakeWebhooks() as hooks:
        bot = hooks.bot("wecom")
        monkeypatch.setenv("RELIABILITY_HOOK", bot.url)
        with rigged(tmp_path, request.param, CHAT.format(platform="wecom"), bot) as made:
            yield made


def _state_url(backend: str, tmp_path: Path) -> Any:
    if backend == "postgresql":
        return fresh_database("reliability", "postgresql+psycopg")
    return nullcontext(f"sqlite:///{tmp_path / 'state.db'}")


def message(sections: int = 1) -> Message:
    """A client daily update; `sections` of 3,000 bytes each make that many WeCom posts."""
    body = [f"## Part {i}\n\n" + "进展" * 500 for i in range(1, sections + 1)]
    return daily_message("# Daily update\n\nToday.", *body)
