"""The chat channels (SPEC §8, §11): one contract suite over Slack, Teams, WeCom, Feishu and
DingTalk against local stand-ins of their webhooks, then what is particular to each platform."""

from __future__ import annotations

import html
import json
import logging
import pickle
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.channels import dingtalk, feishu, slack, teams, wecom
from connectors.channels.base import ChannelContext, DeliveryError
from connectors.channels.webhook import (
    MENTION_KINDS,
    Pacer,
    PartialDeliveryError,
    WebhookChannel,
    convert,
    pacer_for,
    redact,
    scrub,
)
from connectors.http import RetryPolicy
from stagecast.config import (
    DingTalkChannelConfig,
    FeishuChannelConfig,
    SlackChannelConfig,
    TeamsChannelConfig,
    WeComChannelConfig,
)
from stagecast.models import Message
from stagecast.reports.render import join_sections
from tests.connectors.fake_webhooks import Answer, Bot, FakeWebhooks
from tests.prefect_server import free_port
from tests.stagecast.reports.scenario import scenario
from tests.stagecast.reports.test_render import HOSTILE, daily, hostile_scenario

PLATFORMS = ("slack", "teams", "wecom", "feishu", "dingtalk")
MODULES = {"slack": slack, "teams": teams, "wecom": wecom, "feishu": feishu, "dingtalk": dingtalk}
CONFIGS: dict[str, Any] = {
    "slack": SlackChannelConfig,
    "teams": TeamsChannelConfig,
    "wecom": WeComChannelConfig,
    "feishu": FeishuChannelConfig,
    "dingtalk": DingTalkChannelConfig,
}
KEYWORD = "项目进展"
MENTION = ["U0STAGE01", "zhangsan"]
# How each platform writes the configured mentions (Teams: plain text).
MENTIONS = {
    "slack": ["<@U0STAGE01>", "@zhangsan"],
    "teams": ["@U0STAGE01", "@zhangsan"],
    "wecom": ["<@U0STAGE01>", "<@zhangsan>"],
    "feishu": ["<at id=U0STAGE01></at>", "<at id=zhangsan></at>"],
    "dingtalk": ["@U0STAGE01", "@zhangsan"],
}
SIGNED = ("feishu", "dingtalk")
FAST = RetryPolicy(tries=3, base_delay=0.01, max_delay=0.05, max_retry_after=120, timeout=2.0)
ZWSP = "\u200b"
PINGS = re.compile(
    r"<!channel>|<!here>|<!everyone>|<@U024|<at[ >]|<@all>|@(?!\u200b)(all|here|everyone)\b"
)
KINDS = ("daily_update", "stage_report", "risk_alert", "charter")


# --- fixtures and helpers ------------------------------------------------------------------


class Clock:
    """A clock that moves only when slept on, recording each wait."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


@pytest.fixture(scope="module")
def hooks() -> Iterator[FakeWebhooks]:
    with FakeWebhooks() as server:
        yield server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as c:
        yield c


@pytest.fixture(params=PLATFORMS)
def platform(request: pytest.FixtureRequest) -> str:
    return request.param


class Rig:
    """A channel wired to a fresh fake bot, with fake clocks for pacing and retries."""

    def __init__(self, hooks, platform, client, monkeypatch, **options: Any) -> None:
        self.platform = platform
        secret = options.pop(
            "secret", f"SEC{platform}0123456789abcdef" if platform in SIGNED else None
        )
        bot_keyword = options.pop("bot_keyword", KEYWORD)
        self.bot: Bot = hooks.bot(platform, secret=secret, keyword=bot_keyword)
        self.hook_var = f"STAGECAST_TEST_{platform.upper()}_HOOK"
        self.secret_var = f"STAGECAST_TEST_{platform.upper()}_SECRET"
        monkeypatch.setenv(self.hook_var, options.pop("url", self.bot.url))
        entry: dict[str, Any] = {
            "name": f"{platform}-group",
            "type": platform,
            "webhook": f"env:{self.hook_var}",
            "keyword": options.pop("keyword", KEYWORD),
            "mention": options.pop("mention", MENTION),
        }
        if secret is not None:
            monkeypatch.setenv(self.secret_var, options.pop("channel_secret", secret))
            entry["secret"] = f"env:{self.secret_var}"
        self.cfg = CONFIGS[platform].model_validate({k: v for k, v in entry.items() if v})
        self.pace = Clock()
        self.retries = Clock()
        cls: type[WebhookChannel] = type(MODULES[platform].build(self.cfg, CTX))
        self.channel = cls.from_config(
            self.cfg,
            client=client,
            policy=options.pop("policy", FAST),
            sleep=self.retries.sleep,
            pacer=Pacer(*cls.rate, clock=self.pace, sleep=self.pace.sleep),
            read_timeout=options.pop("read_timeout", None),
        )
        self.secrets = [self.bot.url, self.bot.token] + ([secret] if secret else [])


CTX = ChannelContext("acme", Path("/nonexistent"))


@pytest.fixture
def rig(hooks, platform, client, monkeypatch) -> Rig:
    return Rig(hooks, platform, client, monkeypatch)


def message(kind: str = "daily_update", *sections: str) -> Message:
    """A small report as the renderer shapes it: a header section and `## ` sections."""
    sections = sections or (
        "# ACME 客户门户 · 日报\n\n2026年11月20日 星期五\n\n**总体进度** █████░░░░░ 57%",
        "## 阶段\n\n- ✅ **需求确认** 已完成\n- 🔴 **设计评审** 延期",
        "## 风险\n\n- 🔴 高 · [PORTAL-8](https://acme.atlassian.net/browse/PORTAL-8) 支付接口",
    )
    return Message(
        kind=kind,
        project="acme",
        period="2026-11-20",
        audience="client",
        language="zh-CN",
        title="ACME 客户门户 · 日报 · 11月20日",
        markdown=join_sections(sections),
        text="…",
        sections=tuple(sections),
    )


SECTIONS, LINES = 64, 30


@lru_cache
def long_message(kind: str = "daily_update", count: int = SECTIONS, lines: int = LINES) -> Message:
    """Too long for one post anywhere: `count` sections of `lines` marked lines."""
    body = [
        f"## 第 {s:02d} 节 Section {s:02d}\n\n"
        + "\n".join(f"- L{s:02d}.{n:02d} 任务标题 **done** {'数据' * 30}" for n in range(lines))
        for s in range(count)
    ]
    return message(kind, "# 长报告 · Long report\n\n**总体进度** 50%", *body)


def parsed(platform: str, body: dict[str, Any]) -> list[str]:
    """The texts of a post that the platform parses as markup."""
    if platform == "slack":
        return [body["text"]] + [b["text"]["text"] for b in body["blocks"]]
    if platform == "teams":
        return [b["text"] for b in body["attachments"][0]["content"]["body"]]
    if platform == "wecom":
        return [body["markdown"]["content"]]
    if platform == "feishu":
        return [e["content"] for e in body["card"]["elements"]]
    return [body["markdown"]["text"]]


def plain(platform: str, body: dict[str, Any]) -> list[str]:
    """The texts of a post shown as they are (card header, notification title)."""
    if platform == "feishu":
        return [body["card"]["header"]["title"]["content"]]
    if platform == "dingtalk":
        return [body["markdown"]["title"]]
    return []


def readable(text: str) -> str:
    """What a reader sees, near enough: no zero-width spaces, escapes and entities undone."""
    return html.unescape(re.sub(r"\\(.)", r"\1", text.replace(ZWSP, "")))


def links(platform: str, text: str) -> list[str]:
    """Link targets in a parsed text."""
    if platform == "slack":
        return re.findall(r"<(https?://[^|>]*)\|", text)
    return re.findall(r"\]\((https?://[^)\s]*)\)", text)


# --- the contract suite --------------------------------------------------------------------


def test_payloads_are_json_with_the_keyword_in_every_post(rig: Rig) -> None:
    payloads = rig.channel.build_payload(long_message())
    assert len(payloads) > 1
    for body in payloads:
        assert json.loads(json.dumps(body, ensure_ascii=False)) == body
        assert any(KEYWORD in text for text in parsed(rig.platform, body))


def test_build_payload_is_pure(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(rig.hook_var)
    assert rig.channel.build_payload(message()) == rig.channel.build_payload(message())
    assert rig.bot.received == []


@pytest.mark.parametrize("kind", KINDS)
def test_mentions_only_on_stage_reports_and_alerts(rig: Rig, kind: str) -> None:
    payloads = rig.channel.build_payload(long_message(kind))
    mark = MENTIONS[rig.platform][1]
    mentioned = [mark in json.dumps(p, ensure_ascii=False) for p in payloads]
    assert mentioned == [kind in MENTION_KINDS] + [False] * (len(payloads) - 1)


def test_long_message_is_split_into_numbered_parts_under_the_limit_in_order(rig: Rig) -> None:
    payloads = rig.channel.build_payload(long_message())
    total = len(payloads)
    assert total > 1
    markers: list[str] = []
    for index, body in enumerate(payloads, 1):
        assert rig.channel.size(body) <= rig.channel.limit
        every = json.dumps(body, ensure_ascii=False)
        assert f"({index}/{total})" in every
        markers += re.findall(r"L\d\d\.\d\d", "\n".join(parsed(rig.platform, body)))
    expected = [f"L{s:02d}.{n:02d}" for s in range(SECTIONS) for n in range(LINES)]
    assert markers == expected


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("kind", ["daily_update", "stage_report"])
def test_hostile_source_text_pings_nobody_and_links_nowhere(rig: Rig, language, kind) -> None:
    rendered = daily(hostile_scenario(), language, "internal")
    payloads = rig.channel.build_payload(replace(rendered, kind=kind))
    allowed = MENTIONS[rig.platform] if kind in MENTION_KINDS else []
    seen = ""
    for body in payloads:
        for text in parsed(rig.platform, body):
            for ours in allowed:
                text = text.replace(ours, "")
            assert not PINGS.search(text), text
            tags = re.findall(r"<(?!\u200b)(?!https://(?:j|drive)\.example/)[^\s>]*", text)
            assert tags == [], tags
            assert all(
                re.match(r"https://(j|drive)\.example/", t) for t in links(rig.platform, text)
            )
            assert "://evil" not in text
            seen += readable(text)
        for text in plain(rig.platform, body):
            assert not PINGS.search(text), text
    for title in HOSTILE:
        assert " ".join(title.split()) in seen


def test_a_429_waits_as_told_then_succeeds(rig: Rig) -> None:
    rig.bot.rate_limit(retry_after=7)
    receipt = rig.channel.send(message())
    assert receipt.parts == 1 and len(rig.bot.received) == 2 and len(rig.bot.delivered) == 1
    assert rig.retries.waits == [7.0]


def test_an_error_code_in_the_answer_is_a_final_delivery_error(rig: Rig) -> None:
    rig.bot.error_code()
    with pytest.raises(DeliveryError) as caught:
        rig.channel.send(message())
    assert not caught.value.retryable
    assert len(rig.bot.received) == 1 and rig.retries.waits == []


def test_a_5xx_storm_gives_up_retryable_after_bounded_tries(rig: Rig) -> None:
    rig.bot.storm(times=10)
    with pytest.raises(DeliveryError) as caught:
        rig.channel.send(message())
    assert caught.value.retryable and "503" in str(caught.value) and "3 tries" in str(caught.value)
    assert len(rig.bot.received) == FAST.tries
    assert len(rig.retries.waits) == FAST.tries - 1
    assert all(0 <= w <= FAST.max_delay for w in rig.retries.waits)


def test_a_slow_answer_is_never_posted_twice(hooks, platform, client, monkeypatch) -> None:
    """A platform that takes the post and answers after the read timeout: the post may have
    arrived, so it is not sent again (two identical posts was the old behaviour)."""
    rig = Rig(hooks, platform, client, monkeypatch, read_timeout=0.2)
    rig.bot.slow(0.6)
    with pytest.raises(DeliveryError) as caught:
        rig.channel.send(message())
    error = caught.value
    assert error.maybe_delivered and not error.retryable
    assert "may have been delivered" in str(error) and "no answer within" in str(error)
    time.sleep(0.7)  # the bot finishes its late answer
    assert len(rig.bot.received) == 1


def test_no_connection_is_tried_again(hooks, platform, client, monkeypatch) -> None:
    """Nothing listens: the request never left, so trying again is safe."""
    rig = Rig(hooks, platform, client, monkeypatch, url=f"http://127.0.0.1:{free_port()}/hook")
    with pytest.raises(DeliveryError) as caught:
        rig.channel.send(message())
    assert caught.value.retryable and not caught.value.maybe_delivered
    assert "no connection" in str(caught.value) and len(rig.retries.waits) == FAST.tries - 1


def test_a_later_part_failing_names_the_part(rig: Rig) -> None:
    rig.bot.answer(Answer(200, normal=True)).error_code()
    with pytest.raises(PartialDeliveryError) as caught:
        rig.channel.send(long_message())
    error = caught.value
    assert error.part == 2 and error.parts >= 2 and not error.retryable
    assert f"part 2/{error.parts} not delivered" in str(error) and "part 1 was" in str(error)
    assert len(rig.bot.delivered) == 1
    again = pickle.loads(pickle.dumps(error))
    assert (str(again), again.retryable, again.part) == (str(error), False, 2)


def test_every_part_is_posted_in_order_and_paced(rig: Rig) -> None:
    long = long_message()
    receipt = rig.channel.send(long)
    assert receipt.parts == len(rig.bot.delivered) == len(rig.channel.build_payload(long))
    unsigned = [
        {k: v for k, v in r.body.items() if k not in ("timestamp", "sign")}
        for r in rig.bot.delivered
    ]
    assert unsigned == rig.channel.build_payload(long)
    calls, period = type(rig.channel).rate
    full_windows = (receipt.parts - 1) // calls
    assert rig.pace.now - 1000.0 >= full_windows * period - 1e-6


def test_no_secret_in_receipts_errors_or_logs(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receipt = rig.channel.send(message("risk_alert"))
    rig.bot.storm(times=2).error_code()
    with pytest.raises(DeliveryError) as caught:
        rig.channel.send(message())
    shown = [repr(receipt), str(caught.value), caplog.text]
    assert "HTTP Request: POST" in caplog.text  # httpx did log each request
    for text in shown:
        for secret in rig.secrets:
            assert secret not in text
    assert "****" in receipt.target and receipt.channel == f"{rig.platform}-group"


def test_an_unresolvable_reference_names_only_the_reference(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(rig.hook_var)
    with pytest.raises(DeliveryError) as caught:
        rig.channel.send(message())
    assert not caught.value.retryable and f"env:{rig.hook_var}" in str(caught.value)
    assert rig.bot.received == []


def test_a_webhook_that_is_not_a_url_is_a_final_error(hooks, platform, client, monkeypatch) -> None:
    rig = Rig(hooks, platform, client, monkeypatch, url="qyapi.weixin.qq.com/send?key=SECRETKEY1")
    with pytest.raises(DeliveryError) as caught:
        rig.channel.send(message())
    assert not caught.value.retryable and "SECRETKEY1" not in str(caught.value)


def test_an_unknown_webhook_is_a_final_error(hooks, platform, client, monkeypatch) -> None:
    rig = Rig(hooks, platform, client, monkeypatch)
    monkeypatch.setenv(rig.hook_var, rig.bot.url.replace(rig.bot.token, "f" * 32))
    with pytest.raises(DeliveryError) as caught:
        rig.channel.send(message())
    assert not caught.value.retryable and "f" * 32 not in str(caught.value)


def test_a_rendered_report_goes_out_whole(rig: Rig) -> None:
    report = daily(scenario("zh-CN"), "zh-CN", "client")
    receipt = rig.channel.send(report)
    assert receipt.parts == len(rig.bot.delivered) >= 1
    text = readable("\n".join(t for r in rig.bot.delivered for t in parsed(rig.platform, r.body)))
    assert "需求确认" in text and "设计评审" in text


def test_the_factory_builds_a_channel_with_its_own_client(hooks, platform, monkeypatch) -> None:
    rig = Rig(hooks, platform, None, monkeypatch)
    channel = MODULES[platform].build(rig.cfg, CTX)
    assert channel.name == f"{platform}-group" and channel.client is None
    receipt = channel.send(message())
    assert receipt.parts == 1 and len(rig.bot.delivered) == 1


# --- Slack ---------------------------------------------------------------------------------


def test_slack_blocks_speak_mrkdwn(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "slack", client, monkeypatch)
    body = rig.channel.build_payload(message("stage_report"))[0]
    assert body["text"] == "ACME 客户门户 · 日报 · 11月20日 · 项目进展"
    assert body["unfurl_links"] is False
    assert {b["type"] for b in body["blocks"]} == {"section"}
    text = body["blocks"][0]["text"]["text"]
    assert text.startswith("*ACME 客户门户 · 日报*\n\n2026年11月20日")
    assert "• ✅ *需求确认* 已完成" in text
    assert "<https://acme.atlassian.net/browse/PORTAL-8|PORTAL-8>" in text
    assert "<@U0STAGE01> @zhangsan\n\n项目进展" in text


def test_slack_mrkdwn_keeps_source_text_inert() -> None:
    line = r"- [A&amp;B](https://x.example/?a=1&b=2) \*not bold\* &lt;!channel&gt; @" + ZWSP + "all"
    assert convert(line, slack.SLACK) == (
        f"• <https://x.example/?a=1&amp;b=2|A&amp;B> {ZWSP}*{ZWSP}not bold{ZWSP}*{ZWSP}"
        f" &lt;!channel&gt; @{ZWSP}all"
    )


def test_slack_words_other_than_ok_are_final(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "slack", client, monkeypatch)
    rig.bot.answer(Answer(400, "invalid_payload"))
    with pytest.raises(DeliveryError, match="HTTP 400 invalid_payload") as caught:
        rig.channel.send(message())
    assert not caught.value.retryable
    assert caught.value.args[0].startswith("slack http://127.0.0.1:")
    assert "/services/****" in caught.value.args[0]


def test_slack_splits_past_fifty_blocks_and_3000_characters(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "slack", client, monkeypatch)
    for body in rig.channel.build_payload(long_message()):
        assert len(body["blocks"]) <= 50
        assert all(slack.utf16_len(b["text"]["text"]) <= 3000 for b in body["blocks"])


# --- Teams ---------------------------------------------------------------------------------


def test_teams_posts_an_adaptive_card(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "teams", client, monkeypatch)
    body = rig.channel.build_payload(message("risk_alert"))[0]
    (attachment,) = body["attachments"]
    assert body["type"] == "message" and attachment["contentType"] == teams.CARD
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    blocks = card["body"]
    assert all(b["type"] == "TextBlock" and b["wrap"] for b in blocks)
    assert blocks[0] == {
        "type": "TextBlock",
        "text": "ACME 客户门户 · 日报",
        "wrap": True,
        "weight": "Bolder",
        "size": "Large",
    }
    assert "- 🔴 高 · [PORTAL-8](https://acme.atlassian.net/browse/PORTAL-8) 支付接口" in [
        b["text"] for b in blocks
    ]
    assert blocks[-2]["text"] == "@U0STAGE01 @zhangsan"
    assert blocks[-1]["text"] == KEYWORD and blocks[-1]["isSubtle"]
    assert rig.channel.send(message()).parts == 1


def test_teams_too_large_is_final(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "teams", client, monkeypatch)
    rig.bot.answer(Answer(413, {"error": {"code": "RequestEntityTooLarge"}}))
    with pytest.raises(DeliveryError, match="413 RequestEntityTooLarge") as caught:
        rig.channel.send(message())
    assert not caught.value.retryable


# --- WeCom ---------------------------------------------------------------------------------


def test_wecom_markdown_content_and_mentions(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "wecom", client, monkeypatch)
    (body,) = rig.channel.build_payload(message("stage_report"))
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert content.startswith("# ACME 客户门户 · 日报\n\n")
    assert "## 阶段\n\n- ✅ **需求确认** 已完成" in content
    assert content.endswith("<@U0STAGE01> <@zhangsan>\n\n项目进展")


def test_wecom_counts_bytes_not_characters(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "wecom", client, monkeypatch)
    payloads = rig.channel.build_payload(long_message())
    sizes = [len(p["markdown"]["content"].encode("utf-8")) for p in payloads]
    chars = [len(p["markdown"]["content"]) for p in payloads]
    assert 3500 < max(sizes) <= 4096 and max(chars) < max(sizes)


def test_wecom_rate_limit_code_waits_the_minute_and_retries(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "wecom", client, monkeypatch)
    rig.bot.limited()
    assert rig.channel.send(message()).parts == 1
    assert rig.retries.waits == [60.0] and len(rig.bot.delivered) == 1


def test_wecom_invalid_webhook_names_the_code(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "wecom", client, monkeypatch)
    rig.bot.error_code()
    with pytest.raises(DeliveryError, match=r"errcode 93000 invalid webhook url") as caught:
        rig.channel.send(message())
    assert "/…?key=****" in str(caught.value)


# --- Feishu --------------------------------------------------------------------------------


def test_feishu_interactive_card(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "feishu", client, monkeypatch)
    (body,) = rig.channel.build_payload(message("stage_report"))
    assert body["msg_type"] == "interactive" and "sign" not in body
    card = body["card"]
    assert card["header"] == {
        "title": {"tag": "plain_text", "content": "ACME 客户门户 · 日报 · 11月20日"},
        "template": "green",
    }
    (element,) = card["elements"]
    assert element["tag"] == "markdown"
    assert element["content"].startswith("2026年11月20日 星期五\n\n**总体进度**")
    assert "**阶段**\n\n- ✅ **需求确认** 已完成" in element["content"]
    assert element["content"].endswith("<at id=U0STAGE01></at> <at id=zhangsan></at>\n\n项目进展")


def test_feishu_signs_the_body(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "feishu", client, monkeypatch)
    rig.channel.send(message())
    (request,) = rig.bot.delivered
    stamp = request.body["timestamp"]
    assert request.body["sign"] == feishu.feishu_sign(stamp, "SECfeishu0123456789abcdef")
    assert stamp.isdigit() and len(stamp) == 10


def test_feishu_wrong_secret_is_a_final_sign_error(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "feishu", client, monkeypatch, channel_secret="SECwrong")
    with pytest.raises(DeliveryError, match="code 19021") as caught:
        rig.channel.send(message())
    assert not caught.value.retryable and "SECwrong" not in str(caught.value)


def test_feishu_without_the_keyword_is_refused(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "feishu", client, monkeypatch, keyword=None)
    with pytest.raises(DeliveryError, match="code 19024 Key Words Not Found"):
        rig.channel.send(message())


def test_feishu_frequency_limit_is_retried(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "feishu", client, monkeypatch)
    rig.bot.limited()
    assert rig.channel.send(message()).parts == 1
    assert rig.retries.waits == [1.0]


def test_feishu_redaction_keeps_the_public_path() -> None:
    url = "https://open.feishu.cn/open-apis/bot/v2/hook/0b5e7c9a-1234-4cde-9f00-abcdef012345"
    assert redact(url, feishu.FeishuChannel.public_path) == (
        "https://open.feishu.cn/open-apis/bot/v2/hook/****"
    )


# --- DingTalk ------------------------------------------------------------------------------


def test_dingtalk_markdown_and_at(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "dingtalk", client, monkeypatch, mention=["13800138000", "zhangsan", "王工"])
    (body,) = rig.channel.build_payload(message("risk_alert"))
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "ACME 客户门户 · 日报 · 11月20日"
    assert body["markdown"]["text"].endswith("@13800138000 @zhangsan @王工\n\n项目进展")
    assert body["at"] == {"atMobiles": ["13800138000"], "atUserIds": ["zhangsan"], "isAtAll": False}
    (daily_body,) = rig.channel.build_payload(message("daily_update"))
    assert "at" not in daily_body and "@zhangsan" not in daily_body["markdown"]["text"]


def test_dingtalk_signs_the_query(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "dingtalk", client, monkeypatch)
    for _ in range(6):  # several signatures, so some carry `+`, `/` or `=` through the query
        rig.channel.send(message())
    assert len(rig.bot.delivered) == 6
    for request in rig.bot.delivered:
        stamp = request.query["timestamp"]
        assert len(stamp) == 13
        assert request.query["sign"] == dingtalk.dingtalk_sign(stamp, "SECdingtalk0123456789abcdef")
        assert request.query["access_token"] == rig.bot.token


def test_dingtalk_wrong_secret_and_missing_keyword_are_310000(hooks, client, monkeypatch) -> None:
    wrong = Rig(hooks, "dingtalk", client, monkeypatch, channel_secret="SECwrong")
    with pytest.raises(DeliveryError, match="errcode 310000 sign not match"):
        wrong.channel.send(message())
    bare = Rig(hooks, "dingtalk", client, monkeypatch, keyword=None)
    with pytest.raises(DeliveryError, match="errcode 310000 keywords not in content") as caught:
        bare.channel.send(message())
    assert not caught.value.retryable


def test_dingtalk_throttle_is_retryable_without_hammering(hooks, client, monkeypatch) -> None:
    rig = Rig(hooks, "dingtalk", client, monkeypatch)
    rig.bot.limited()
    with pytest.raises(DeliveryError, match="130101") as caught:
        rig.channel.send(message())
    assert caught.value.retryable
    assert len(rig.bot.received) == 1 and rig.retries.waits == []


# --- shared pieces -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "public", "shown"),
    [
        (
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx",
            "",
            "https://qyapi.weixin.qq.com/…?key=****",
        ),
        (
            "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX",
            "/services/",
            "https://hooks.slack.com/services/****",
        ),
        (
            "https://oapi.dingtalk.com/robot/send?access_token=abc123def456",
            "",
            "https://oapi.dingtalk.com/…?access_token=****",
        ),
        ("https://user:pw@example.com:8443/hook/SECRETSECRET", "", "https://example.com:8443/…"),
        ("https://example.com/?0123456789abcdef0123456789", "", "https://example.com?****"),
        ("not a url", "", "****"),
    ],
)
def test_redact(url: str, public: str, shown: str) -> None:
    assert redact(url, public) == shown


def test_redact_teams_workflow_url() -> None:
    url = (
        "https://prod-12.westus.logic.azure.com:443/workflows/0a1b2c3d/triggers/manual/paths/"
        "invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Zm9vYmFyYmF6"
    )
    assert redact(url) == (
        "https://prod-12.westus.logic.azure.com:443/…?api-version=****&sp=****&sv=****&sig=****"
    )


def test_scrub_replaces_longest_first() -> None:
    assert (
        scrub(
            "a https://h/x?key=LONGSECRET b LONGSECRET",
            ["LONGSECRET", "https://h/x?key=LONGSECRET"],
        )
        == "a **** b ****"
    )


def test_pacer_spaces_posts_by_its_window() -> None:
    clock = Clock()
    pacer = Pacer(2, 1.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        pacer.wait()
    assert clock.now - 1000.0 == pytest.approx(2.0)


def test_pacers_are_shared_per_webhook_and_keyed_by_a_hash() -> None:
    from connectors.channels import webhook

    first = pacer_for("https://hooks.example/services/SECRET-A", 1, 1.0)
    assert pacer_for("https://hooks.example/services/SECRET-A", 1, 1.0) is first
    assert pacer_for("https://hooks.example/services/SECRET-B", 1, 1.0) is not first
    assert not any("SECRET" in key for key in webhook._PACERS)


def test_conversion_keeps_bold_links_and_headings_per_dialect() -> None:
    md = "## 阶段 \\#1\n\n- **需求** [P\\-1](https://j.example/P-1) \\*x\\* &lt;b&gt;"
    assert convert(md, wecom.WECOM) == (
        f"## 阶段 #1\n\n- **需求** [P-1](https://j.example/P-1) *{ZWSP}x*{ZWSP} <{ZWSP}b>"
    )
    assert convert(md, feishu.FEISHU) == (
        "**阶段 &#35;1**\n\n- **需求** [P-1](https://j.example/P-1) &#42;x&#42; &#60;b&#62;"
    )
    assert convert(md, teams.TEAMS) == (
        f"**阶段 \\#1**\n\n- **需求** [P-1](https://j.example/P-1) \\*x\\* \\<{ZWSP}b\\>"
    )


def test_source_text_starting_a_line_cannot_start_a_heading() -> None:
    assert convert("\\# not a heading\n- \\## nor here", dingtalk.DINGTALK) == (
        f"{ZWSP}# not a heading\n- {ZWSP}## nor here"
    )


def test_links_that_are_not_http_keep_only_their_text() -> None:
    assert convert("[doc](javascript:alert)", wecom.WECOM) == "doc"
