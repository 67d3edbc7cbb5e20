"""Failures classified once: a permanent one is not retried until its config changes (or a
person resends it), a transient one backs off across runs, and a post that may have arrived
(the platform took it and answered late) is never posted twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from connectors.channels.slack import SlackChannel
from connectors.http import RetryPolicy
from flows.delivery import deliver, resolve
from tests.connectors.fake_webhooks import Answer, FakeWebhooks
from tests.connectors.smtp_server import Account, serve
from tests.reliability.rig import AS_OF, CHAT, message, rigged

PERMANENT = {
    "slack 400 invalid_payload": ("slack", Answer(400, "invalid_payload")),
    "teams 401": ("teams", Answer(401, {"error": {"code": "DirectApiAuthorizationRequired"}})),
    "wecom 93000": ("wecom", Answer(200, {"errcode": 93000, "errmsg": "invalid webhook url"})),
    "dingtalk 310000": ("dingtalk", Answer(200, {"errcode": 310000, "errmsg": "sign not match"})),
    "feishu 19024": ("feishu", Answer(200, {"code": 19024, "msg": "Key Words Not Found"})),
}


@pytest.mark.parametrize("case", sorted(PERMANENT))
def test_a_permanent_failure_waits_for_a_change(case, tmp_path, monkeypatch, reliability_tally):
    """Wrong key or config: `failed`, `retryable: false`; three more `deliver-pending` runs a
    day later send nothing; a new webhook in the environment (the fix) makes the next one
    send it."""
    reliability_tally.record("failures classified once", cases=1)
    platform, answer = PERMANENT[case]
    with FakeWebhooks() as hooks:
        bot = hooks.bot(platform)
        bot.answer(answer)
        monkeypatch.setenv("RELIABILITY_HOOK", bot.url)
        with rigged(tmp_path, "sqlite", CHAT.format(platform=platform), bot) as rig:
            outcome = deliver(rig.store, rig.request(message()))
            entry = rig.store.delivery(outcome.id or "")
            assert entry is not None and (entry.status, entry.retryable) == ("failed", False)
            for hours in (1, 24, 48):
                rig.deliver_pending(AS_OF + timedelta(hours=hours))
            assert len(bot.received) == 1
            fixed = hooks.bot(platform)
            monkeypatch.setenv("RELIABILITY_HOOK", fixed.url)
            rig.deliver_pending(AS_OF + timedelta(days=3))
            assert rig.ledger()["status"] == "sent" and len(fixed.delivered) == 1


def test_a_permanent_failure_is_resent_when_a_person_asks(tmp_path, monkeypatch, reliability_tally):
    """`stagecast resolve ID --resend` is the "someone forces it" for a permanent failure."""
    reliability_tally.record("failures classified once", cases=1)
    with FakeWebhooks() as hooks:
        bot = hooks.bot("slack")
        bot.answer(Answer(404, "no_service"))
        monkeypatch.setenv("RELIABILITY_HOOK", bot.url)
        with rigged(tmp_path, "sqlite", CHAT.format(platform="slack"), bot) as rig:
            outcome = deliver(rig.store, rig.request(message()))
            rig.deliver_pending(AS_OF + timedelta(hours=2))
            assert len(bot.received) == 1
            after = resolve(rig.store, rig.config, outcome.id or "", delivered=False, by="lead")
            assert after.status in ("sent", "failed")  # sent now, or waits for the window
            rig.deliver_pending(AS_OF + timedelta(days=3))  # a working day, in hours
            assert rig.ledger()["status"] == "sent" and len(bot.delivered) == 1


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_without_auth_is_permanent(tmp_path, reliability_tally):
    """A server that wants a login we do not have: final, not retried every run."""
    reliability_tally.record("failures classified once", cases=1)
    with serve(account=Account("u", "p"), auth_required=True) as server:
        channel = (
            "{name: client-chat, type: email, audience: client, to: [pm@acme.example],"
            " from: delivery@ourfirm.example,"
            f" smtp: {{host: 127.0.0.1, port: {server.port}, starttls: false}}}}"
        )
        with rigged(tmp_path, "sqlite", channel) as rig:
            outcome = deliver(rig.store, rig.request(message()))
            entry = rig.store.delivery(outcome.id or "")
            assert entry is not None and (entry.status, entry.retryable) == ("failed", False)
            assert "530" in (entry.last_error or "")
            rig.deliver_pending(AS_OF + timedelta(hours=3))
            assert server.mailbox.received == [] and rig.ledger()["status"] == "failed"


def test_a_transient_failure_backs_off_across_runs(tmp_path, monkeypatch, reliability_tally):
    """A platform down for a while (503 after every try): the next try waits 5 minutes, then
    10, … — not every `deliver-pending` — and it goes out once the platform is back."""
    reliability_tally.record("failures classified once", cases=1)
    with FakeWebhooks() as hooks:
        bot = hooks.bot("wecom")
        bot.storm(times=4)
        monkeypatch.setenv("RELIABILITY_HOOK", bot.url)
        monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: 0.0)
        with rigged(tmp_path, "sqlite", CHAT.format(platform="wecom"), bot) as rig:
            outcome = deliver(rig.store, rig.request(message()))
            first = rig.store.delivery(outcome.id or "")
            assert first is not None and first.status == "failed" and first.retryable
            assert first.not_before == AS_OF + timedelta(minutes=5)
            rig.deliver_pending(AS_OF + timedelta(minutes=2))
            assert len(bot.received) == 4  # not yet
            rig.deliver_pending(AS_OF + timedelta(minutes=6))
            assert rig.ledger()["status"] == "sent" and len(bot.delivered) == 1


def test_a_slow_answer_is_unknown_not_doubled(tmp_path, monkeypatch, reliability_tally):
    """The webhook takes the post and answers after the read timeout (17 s against 15 s, here
    scaled down): one post, the ledger says `unknown`, the team is told with the report; no
    later run posts it again; a person confirms it arrived."""
    reliability_tally.record("timeouts after acceptance", cases=1)
    monkeypatch.setattr(SlackChannel, "read_timeout", 0.3)
    with FakeWebhooks() as hooks:
        bot = hooks.bot("slack")
        bot.slow(1.0)
        monkeypatch.setenv("RELIABILITY_HOOK", bot.url)
        with rigged(tmp_path, "sqlite", CHAT.format(platform="slack"), bot) as rig:
            outcome = deliver(rig.store, rig.request(message()))
            assert outcome.status == "unknown" and "may have been delivered" in (
                outcome.error or ""
            )
            rig.deliver_pending(AS_OF + timedelta(hours=1))
            rig.deliver_pending(AS_OF + timedelta(days=1))
            assert len(bot.received) == 1
            settled = resolve(rig.store, rig.config, outcome.id or "", delivered=True, by="lead")
            assert settled.status == "sent" and len(bot.received) == 1


def test_no_connection_is_retried_at_once(tmp_path, monkeypatch, reliability_tally):
    """Nothing listening: the request never left, so the channel tries again within the run
    and the ledger keeps it `failed` (retryable), never `unknown`."""
    reliability_tally.record("timeouts after acceptance", cases=1)
    from tests.prefect_server import free_port

    monkeypatch.setenv("RELIABILITY_HOOK", f"http://127.0.0.1:{free_port()}/services/T/B/x")
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt: 0.0)
    with rigged(tmp_path, "sqlite", CHAT.format(platform="slack")) as rig:
        outcome: Any = deliver(rig.store, rig.request(message()))
        entry = rig.store.delivery(outcome.id)
        assert entry is not None and (entry.status, entry.retryable) == ("failed", True)


def test_a_person_settles_an_unknown_delivery_from_the_command_line(
    tmp_path, monkeypatch, run_cli, prefect_server, reliability_tally
):
    """`report` ends `unknown` (exit 1) when the post may have arrived; `deliveries` shows it;
    `resolve ID --delivered` records it sent; resolving it again is refused (exit 2)."""
    from tests.trello_boards import card, write_board

    reliability_tally.record("timeouts after acceptance", cases=1)
    monkeypatch.setattr(SlackChannel, "read_timeout", 0.3)
    write_board(tmp_path / "board.json", [card("A1", "doing")])
    with FakeWebhooks() as hooks:
        bot = hooks.bot("slack")
        bot.slow(1.0)
        monkeypatch.setenv("RELIABILITY_HOOK", bot.url)
        cfg = tmp_path / "stagecast.yaml"
        cfg.write_text(
            "timezone: Asia/Shanghai\nprojects:\n  - key: acme\n    name: ACME\n"
            "    sources: [{type: trello_export, path: board.json}]\n"
            f"    channels: [{CHAT.format(platform='slack')}]\n"
            "    reports: {daily_update: {channels: [client-chat]}}\n",
            encoding="utf-8",
        )
        args = ("-c", str(cfg))
        out = run_cli(
            "report",
            "daily_update",
            *args,
            "--project",
            "acme",
            "--as-of",
            "2026-11-20T10:00",
            "--json",
        )
        assert out.code == 1 and out.project("acme")["deliveries"][0]["status"] == "unknown"
        listed = run_cli("deliveries", *args, "--status", "unknown", "--json").json["deliveries"]
        assert len(listed) == 1 and listed[0]["in_flight"] == 1
        settled = run_cli("resolve", listed[0]["id"], *args, "--delivered", "--by", "lead")
        assert settled.code == 0 and "sent" in settled.stdout
        again = run_cli("resolve", listed[0]["id"], *args, "--delivered")
        assert again.code == 2 and "unknown" in again.stderr
    assert len(bot.received) == 1
