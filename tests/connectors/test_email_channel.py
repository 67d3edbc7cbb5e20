"""The `email` channel against a real local SMTP server (aiosmtpd): what arrives, and faults."""

from __future__ import annotations

import logging
import random
import re
import socket
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.channels.base import ChannelContext, DeliveryError, build_channel
from connectors.channels.email import EmailChannel, one_line
from connectors.http import RetryPolicy
from stagecast.config import EmailChannelConfig
from stagecast.models import Message
from stagecast.reports.context import daily_update_context
from stagecast.reports.render import render_report
from tests.connectors.smtp_server import (
    HOST,
    Account,
    Mailbox,
    Tls,
    free_port,
    make_tls,
    related_html,
    serve,
)
from tests.stagecast.reports.scenario import scenario, scenario_chart

USER, PASSWORD = "mailer@ourfirm.example", "s3cret-Pa55"
TITLE = "ACME 客户门户 · 阶段报告：需求确认"
TEXT = "需求确认已完成。\n问题：接口延迟，已通过缓存解决。\n"
RECIPIENTS = ["pm@acme.example", "cto@acme.example", "lead@ourfirm.example"]
HTML = "<h1>需求确认</h1><table><tr><td>进度</td><td>100%</td></tr></table>\n"


def message(**overrides) -> Message:
    values = dict(
        kind="stage_report",
        project="acme-portal",
        period="requirements",
        audience="client",
        language="zh-CN",
        title=TITLE,
        markdown="## 需求确认",
        text=TEXT,
        html=HTML,
    )
    values.update(overrides)
    return Message(**values)


def body(part: EmailMessage) -> str:
    """A text part's content; text/* travels in canonical CRLF form (RFC 2045), so undo that."""
    return part.get_content().replace("\r\n", "\n")


def config(port: int = 25, *, name: str = "client-mail", **smtp) -> EmailChannelConfig:
    return EmailChannelConfig.model_validate(
        {
            "name": name,
            "type": "email",
            "to": ["pm@acme.example", "cto@acme.example"],
            "cc": ["lead@ourfirm.example"],
            "from": "delivery@ourfirm.example",
            "smtp": {"host": "127.0.0.1", "port": port, "starttls": False, **smtp},
            "audience": "client",
        }
    )


class Sleeps(list[float]):
    """An injected sleep that records the waits instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def tls(tmp_path: Path) -> Tls:
    return make_tls(tmp_path)


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("SMTP_USER", USER)
    monkeypatch.setenv("SMTP_PASS", PASSWORD)
    return {"username": "env:SMTP_USER", "password": "env:SMTP_PASS"}


def channel(cfg: EmailChannelConfig, sleeps: Sleeps, **kwargs) -> EmailChannel:
    return EmailChannel(cfg, retry=RetryPolicy(tries=3, base_delay=1.0), sleep=sleeps, **kwargs)


# --- the payload, without a server ---------------------------------------------------------


def test_payload_headers_and_alternatives():
    fixed = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
    mail = EmailChannel(config(), clock=lambda: fixed).build_payload(message())
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]
    assert mail["Subject"] == TITLE and mail["From"] == "delivery@ourfirm.example"
    assert mail["To"] == "pm@acme.example, cto@acme.example"
    assert mail["Cc"] == "lead@ourfirm.example" and mail["Bcc"] is None
    assert mail["Date"] == "Fri, 20 Nov 2026 18:00:00 +0000"
    assert mail["Auto-Submitted"] == "auto-generated" and mail["Content-Language"] == "zh-CN"


def test_chinese_subject_is_rfc2047_and_bodies_are_7bit_safe():
    raw = bytes(EmailChannel(config()).build_payload(message()))
    assert raw.isascii()  # no 8BITMIME/SMTPUTF8 needed from the server
    subject = raw.split(b"\r\nFrom:")[0]
    assert subject.startswith(b"Subject: =?utf-8?b?") and TITLE.encode() not in raw
    assert all(len(line) <= 78 for line in subject.split(b"\r\n"))


WORDS = [
    "ACME",
    "客户门户",
    "日报",
    "Daily",
    "update",
    "设计评审",
    "·",
    "11月20日",
    "(UAT)",
    "测试验收",
    "风险",
    "高",
    "on",
    "track",
    "张三",
    "2026-11-20",
    "🚀",
    "e\u0301",
]


def test_chinese_subjects_arrive_exactly_as_titled(sleeps):
    """Spaces next to CJK text survive the trip (CPython gh-144156 dropped some when two
    encoded words were folded): 80 titles sent to a real SMTP server, each parsed back."""
    rng = random.Random(144156)
    titles = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 30))) for _ in range(80)]
    with serve() as server:
        sender = channel(config(server.port), sleeps)
        for title in titles:
            sender.send(message(title=title))
    assert [got.parsed()["Subject"] for got in server.mailbox.received] == titles


def test_message_id_is_stable_for_the_same_report_and_channel():
    first = EmailChannel(config()).build_payload(message())["Message-ID"]
    again = EmailChannel(config()).build_payload(message(title="另一个标题"))["Message-ID"]
    assert first == again and first.startswith("<stagecast.")
    assert first.endswith("@ourfirm.example>")
    other_period = EmailChannel(config()).build_payload(message(period="design"))["Message-ID"]
    other_channel = EmailChannel(config(name="pm-mail")).build_payload(message())["Message-ID"]
    assert len({first, other_period, other_channel}) == 3


def test_html_none_is_a_single_text_plain_part():
    mail = EmailChannel(config()).build_payload(message(html=None))
    assert mail.get_content_type() == "text/plain" and not mail.is_multipart()
    assert body(mail) == TEXT


def test_title_with_line_break_cannot_inject_a_header():
    title = "周报\r\n Bcc: evil@example\r\nX-Spoof: yes"
    mail = EmailChannel(config()).build_payload(message(title=title))
    parsed = message_from_bytes(bytes(mail), policy=policy.default)
    assert parsed["Bcc"] is None and parsed["X-Spoof"] is None
    assert parsed["Subject"] == "周报 Bcc: evil@example X-Spoof: yes"
    assert one_line("a\u2028b\n\n c") == "a b c"


@pytest.mark.parametrize("field", ["to", "cc", "from_"])
def test_address_with_line_break_is_refused_for_good(field):
    cfg = config()
    bad = "pm@acme.example\r\nBcc: evil@example"
    cfg = cfg.model_copy(update={field: bad if field == "from_" else [bad]})  # skips validation
    with pytest.raises(DeliveryError, match="line break") as err:
        EmailChannel(cfg).build_payload(message())
    assert not err.value.retryable


# --- through a real SMTP server -------------------------------------------------------------


def test_delivered_mail_reads_right_in_a_mail_client(sleeps):
    with serve() as server:
        receipt = channel(config(server.port), sleeps).send(message())
    [got] = server.mailbox.received
    assert got.mail_from == "delivery@ourfirm.example"
    assert got.rcpt_tos == RECIPIENTS
    mail = got.parsed()
    assert mail["Subject"] == TITLE
    assert (
        mail["To"] == "pm@acme.example, cto@acme.example" and mail["Cc"] == "lead@ourfirm.example"
    )
    text, html = mail.iter_parts()
    assert (text.get_content_type(), text.get_content_charset()) == ("text/plain", "utf-8")
    assert (html.get_content_type(), html.get_content_charset()) == ("text/html", "utf-8")
    assert body(text) == TEXT and body(html) == HTML
    assert receipt.channel == "client-mail"
    assert receipt.target == f"{mail['Message-ID']} (3 of 3 recipients)"
    assert sleeps == []


def test_the_burn_up_chart_arrives_inline_beside_the_html(sleeps):
    s = scenario("zh-CN")
    context = daily_update_context(
        s.project, s.snapshot, s.since, audience="client", language="zh-CN", calendar=s.calendar
    )
    chart = scenario_chart(s)
    rendered = render_report(
        "daily_update", context, language="zh-CN", audience="client", chart=chart
    )
    with serve() as server:
        channel(config(server.port), sleeps).send(rendered)
    [got] = server.mailbox.received
    mail = got.parsed()
    text, related = mail.iter_parts()
    assert mail.get_content_type() == "multipart/alternative"
    assert (text.get_content_type(), related.get_content_type()) == (
        "text/plain",
        "multipart/related",
    )
    assert related.get_param("type") == "text/html"
    html, parts = related_html(mail)
    cids = re.findall(r'<img src="cid:([^"]+)"', html)
    assert cids == [chart.cid] and set(parts) == {chart.cid}
    image = parts[chart.cid]
    assert image.get_content_type() == "image/png"
    assert (image.get_content_disposition(), image.get_filename()) == ("inline", "burnup.png")
    assert image.get_content() == chart.image().data
    assert image.get_content().startswith(b"\x89PNG\r\n\x1a\n")
    assert "cid:" not in body(text) and "进度趋势" in html


def test_a_mail_without_images_keeps_html_a_plain_alternative():
    mail = EmailChannel(config()).build_payload(message())
    assert "multipart/related" not in [p.get_content_type() for p in mail.walk()]


def test_title_injection_does_not_reach_the_envelope(sleeps):
    with serve() as server:
        channel(config(server.port), sleeps).send(message(title="日报\r\nBcc: evil@example"))
    [got] = server.mailbox.received
    assert "evil@example" not in got.rcpt_tos
    assert got.parsed()["Bcc"] is None and got.parsed()["Subject"] == "日报 Bcc: evil@example"


def test_text_only_report_arrives_as_one_text_part(sleeps):
    with serve() as server:
        channel(config(server.port), sleeps).send(message(html=None))
    mail = server.mailbox.received[0].parsed()
    assert mail.get_content_type() == "text/plain" and body(mail) == TEXT


def test_login_over_plain_smtp(sleeps, creds):
    with serve(account=Account(USER, PASSWORD)) as server:
        receipt = channel(config(server.port, insecure=True, **creds), sleeps).send(message())
    assert server.mailbox.received[0].authenticated
    assert PASSWORD not in receipt.target and USER not in receipt.target


def test_refused_login_is_final_and_names_the_references_only(sleeps, creds, caplog):
    caplog.set_level(logging.DEBUG, logger="connectors")
    with (
        serve(account=Account(USER, "another-password")) as server,
        pytest.raises(DeliveryError) as err,
    ):
        channel(config(server.port, insecure=True, **creds), sleeps).send(message())
    assert not err.value.retryable and sleeps == []
    assert "535" in str(err.value)
    assert "check the SMTP username/password (env:SMTP_USER, env:SMTP_PASS)" in str(err.value)
    assert PASSWORD not in str(err.value) and USER not in str(err.value)
    assert PASSWORD not in caplog.text
    assert server.mailbox.received == []


def test_missing_password_variable_is_final_and_named(sleeps, creds, monkeypatch):
    monkeypatch.delenv("SMTP_PASS")
    with pytest.raises(DeliveryError, match="SMTP_PASS is not set") as err:
        channel(config(free_port(), insecure=True, **creds), sleeps).send(message())
    assert not err.value.retryable


def test_half_configured_login_is_refused_by_the_config():
    """A username without a password would fail every send: the config says so first."""
    with pytest.raises(ValidationError, match=r"smtp\.password is missing"):
        config(free_port(), username="mailer")


def test_starttls_with_required_login(sleeps, creds, tls):
    account = Account(USER, PASSWORD)
    with serve(account=account, auth_required=True, starttls=tls.server_context()) as server:
        cfg = config(server.port, starttls=True, **creds)
        channel(cfg, sleeps, tls_context=tls.client_context()).send(message())
    [got] = server.mailbox.received
    assert got.tls and got.authenticated and got.parsed()["Subject"] == TITLE


def test_server_requiring_login_without_credentials_is_final(sleeps, tls):
    ctx = tls.server_context()
    with serve(account=Account(USER, PASSWORD), auth_required=True, starttls=ctx) as server:
        cfg = config(server.port, starttls=True)
        with pytest.raises(DeliveryError, match="530") as err:
            channel(cfg, sleeps, tls_context=tls.client_context()).send(message())
    assert not err.value.retryable and "smtp.username/password" in str(err.value)


def test_untrusted_certificate_is_final(sleeps, tls):
    with (
        serve(starttls=tls.server_context()) as server,
        pytest.raises(DeliveryError, match="certificate not trusted") as err,
    ):
        channel(config(server.port, starttls=True), sleeps).send(message())
    assert not err.value.retryable and server.mailbox.received == []


def test_implicit_tls(sleeps, tls):
    with serve(implicit_tls=tls.server_context()) as server:
        cfg = config(server.port, ssl=True)
        channel(cfg, sleeps, tls_context=tls.client_context()).send(message())
    assert server.mailbox.received[0].tls


def test_dead_server_is_retryable_after_bounded_tries(sleeps):
    with pytest.raises(DeliveryError) as err:
        channel(config(free_port()), sleeps).send(message())
    assert err.value.retryable
    assert "not delivered: cannot connect" in str(err.value) and "after 3 tries" in str(err.value)
    assert len(sleeps) == 2 and all(0 <= s <= 2.0 for s in sleeps)


def test_silent_server_times_out_and_is_retryable(sleeps):
    with socket.create_server((HOST, 0)) as silent:  # accepts connections, never greets
        cfg = config(silent.getsockname()[1], timeout_seconds=0.2)
        with pytest.raises(DeliveryError, match=r"no answer within 0\.2s") as err:
            channel(cfg, sleeps).send(message())
    assert err.value.retryable and len(sleeps) == 2


def test_temporary_failure_then_success(sleeps):
    with serve(Mailbox(data_replies=["451 4.3.0 Try again later"])) as server:
        receipt = channel(config(server.port), sleeps).send(message())
    assert server.mailbox.data_attempts == 2 and len(server.mailbox.received) == 1
    assert len(sleeps) == 1 and "3 of 3 recipients" in receipt.target


def test_permanent_rejection_is_not_retried(sleeps):
    with (
        serve(Mailbox(data_replies=["554 5.6.0 Message rejected"])) as server,
        pytest.raises(DeliveryError, match="554") as err,
    ):
        channel(config(server.port), sleeps).send(message())
    assert not err.value.retryable and sleeps == [] and server.mailbox.data_attempts == 1


def test_every_recipient_refused_is_final_and_named(sleeps):
    refuse = dict.fromkeys(RECIPIENTS, "550 5.1.1 Mailbox unavailable")
    with (
        serve(Mailbox(refuse=refuse)) as server,
        pytest.raises(DeliveryError, match="every recipient refused") as err,
    ):
        channel(config(server.port), sleeps).send(message())
    assert not err.value.retryable and "cto@acme.example (550)" in str(err.value)
    assert sleeps == []


def test_recipients_refused_for_now_are_retried(sleeps):
    refuse = dict.fromkeys(RECIPIENTS, "450 4.2.1 Mailbox busy, try later")
    with serve(Mailbox(refuse=refuse)) as server, pytest.raises(DeliveryError) as err:
        channel(config(server.port), sleeps).send(message())
    assert err.value.retryable and len(sleeps) == 2


def test_some_recipients_refused_is_sent_and_says_who(sleeps, caplog):
    with serve(Mailbox(refuse={"cto@acme.example": "550 5.1.1 No such user"})) as server:
        receipt = channel(config(server.port), sleeps).send(message())
    assert server.mailbox.received[0].rcpt_tos == ["pm@acme.example", "lead@ourfirm.example"]
    assert "2 of 3 recipients; refused: cto@acme.example (550)" in receipt.target
    assert "cto@acme.example (550)" in caplog.text


def test_factory_fits_the_channel_registry(tmp_path):
    built = build_channel(config(), ChannelContext("acme-portal", tmp_path))
    assert isinstance(built, EmailChannel) and built.name == "client-mail"
