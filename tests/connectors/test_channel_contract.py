"""One contract, every channel (`connectors/channels/base.py`), run for each type registered in
`connectors.plugins.CHANNELS` against its real stand-in: a local bot for each chat platform, a
local SMTP server, a folder. A channel registered without a case here fails every test.

- `send` returns a receipt and records each part it delivered, in order, in the part log;
- given a part log whose first part is past the last, it sends nothing again;
- a refusal is a `DeliveryError` saying whether a later try can succeed, without a secret.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from connectors.channels.base import ChannelContext, DeliveryError, build_channel
from connectors.plugins import CHANNELS
from stagecast.config import parse_config
from stagecast.models import InlineImage
from tests.builders import daily_message
from tests.connectors.fake_webhooks import Answer, FakeWebhooks
from tests.connectors.smtp_server import serve


@dataclass
class PartLog:
    """Records what a channel says about each part."""

    first: int = 1
    events: list[tuple[str, int | None]] = field(default_factory=list)

    def leaving(self, part: int) -> None:
        self.events.append(("leaving", part))

    def delivered(self, part: int) -> None:
        self.events.append(("delivered", part))

    def unsent(self) -> None:
        self.events.append(("unsent", None))


@dataclass
class Case:
    """A built channel, how many sends its stand-in received, and what must never show."""

    channel: Any
    received: Callable[[], int]
    secrets: tuple[str, ...] = ()
    refuse: Callable[[], None] = lambda: None  # make the next send fail


MESSAGE = daily_message(html="<p>All on track.</p>")
CHART = InlineImage("burnup.0123abcd@stagecast", "burnup.png", b"\x89PNG\r\n\x1a\n")
CHARTED = replace(MESSAGE, html=f'<p>All on track.</p><img src="cid:{CHART.cid}">', images=(CHART,))


def _channel(entry: str, tmp_path: Path) -> Any:
    text = (
        "projects:\n  - key: acme\n    name: Acme\n"
        "    sources: [{type: trello_export, path: board.json}]\n"
        f"    channels: [{entry}]\n"
    )
    (tmp_path / "board.json").write_text("{}", encoding="utf-8")
    config = parse_config(text, tmp_path)
    return build_channel(config.projects[0].channels[0], ChannelContext("acme", tmp_path / "out"))


@contextmanager
def file_case(tmp_path: Path, monkeypatch: Any) -> Iterator[Case]:
    channel = _channel("{name: team, type: file, audience: internal}", tmp_path)
    folder = tmp_path / "out" / "acme" / "team"

    def refuse() -> None:  # a file where the folder should be
        folder.parent.mkdir(parents=True, exist_ok=True)
        if folder.is_dir():
            for child in folder.iterdir():
                child.unlink()
            folder.rmdir()
        folder.write_text("in the way")

    yield Case(
        channel, lambda: len(list(folder.glob("*.md"))) if folder.is_dir() else 0, refuse=refuse
    )


@contextmanager
def email_case(tmp_path: Path, monkeypatch: Any) -> Iterator[Case]:
    with serve() as server:
        entry = (
            "{name: client-mail, type: email, audience: client, to: [pm@acme.example],"
            " from: delivery@ourfirm.example,"
            f" smtp: {{host: 127.0.0.1, port: {server.port}, starttls: false}}}}"
        )
        channel = _channel(entry, tmp_path)
        refused = "550 5.1.1 No such user"
        yield Case(
            channel,
            lambda: len(server.mailbox.received),
            refuse=lambda: server.mailbox.refuse.update({"pm@acme.example": refused}),
        )


def chat_case(platform: str) -> Callable[[Path, Any], AbstractContextManager[Case]]:
    @contextmanager
    def case(tmp_path: Path, monkeypatch: Any) -> Iterator[Case]:
        with FakeWebhooks() as hooks:
            bot = hooks.bot(platform)
            monkeypatch.setenv("CONTRACT_HOOK", bot.url)
            entry = f'{{name: group, type: {platform}, webhook: "env:CONTRACT_HOOK"}}'
            yield Case(
                _channel(entry, tmp_path),
                lambda: len(bot.delivered),
                secrets=(bot.url, bot.token),
                refuse=lambda: bot.answer(Answer(404, "no_service"), times=10),
            )

    return case


CASES: dict[str, Callable[[Path, Any], AbstractContextManager[Case]]] = {
    "file": file_case,
    "email": email_case,
    **{p: chat_case(p) for p in ("slack", "teams", "wecom", "feishu", "dingtalk")},
}


@pytest.fixture(params=sorted(CHANNELS))
def case(request, tmp_path, monkeypatch):
    if request.param not in CASES:
        pytest.fail(f"channel type {request.param!r} has no contract case: add one to CASES")
    with CASES[request.param](tmp_path, monkeypatch) as made:
        yield made


def test_every_registered_channel_has_a_contract_case():
    assert set(CASES) == set(CHANNELS)


def test_send_records_each_part_it_delivered(case):
    log = PartLog()
    receipt = case.channel.send(MESSAGE, log)
    delivered = [part for what, part in log.events if what == "delivered"]
    assert receipt.parts >= 1 and delivered == list(range(1, receipt.parts + 1))
    assert case.received() == 1
    leaving = [part for what, part in log.events if what == "leaving"]
    assert all(part in delivered for part in leaving)  # nothing left in flight


def test_a_send_past_the_last_part_sends_nothing_again(case):
    case.channel.send(MESSAGE, PartLog())
    case.channel.send(MESSAGE, PartLog(first=2))
    assert case.received() == 1


def test_a_report_with_an_inline_chart_is_delivered_once(case):
    """HTML channels carry the chart; the others deliver the report without it."""
    receipt = case.channel.send(CHARTED, PartLog())
    assert receipt.parts >= 1 and case.received() == 1


def test_a_refusal_says_whether_to_try_again_and_hides_secrets(case, monkeypatch):
    monkeypatch.setattr("connectors.http.RetryPolicy.backoff", lambda self, attempt: 0.0)
    case.refuse()
    with pytest.raises(DeliveryError) as caught:
        case.channel.send(MESSAGE, PartLog())
    error = caught.value
    assert isinstance(error.retryable, bool) and not error.maybe_delivered
    assert all(secret not in str(error) for secret in case.secrets)
