"""Bounded output (SPEC §7, §8): text from the sources runs to 100,000 characters (Latin,
Chinese or emoji) — one card's title, assignee, list, resolution and last comment, a decision
and its minutes' name, a Drive file's name; a stage named by such a label, a source failing with
such an error — and every report reads it as a cut line, in every format. One card cannot flood
a chat with posts or an inbox with a huge email.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connectors.channels import dingtalk, feishu, slack, teams, wecom
from connectors.channels.base import ChannelContext
from connectors.channels.webhook import WebhookChannel
from stagecast.config import (
    DingTalkChannelConfig,
    FeishuChannelConfig,
    ProjectConfig,
    SlackChannelConfig,
    TeamsChannelConfig,
    WeComChannelConfig,
)
from stagecast.evaluate import SourceOutcome, calendar_for, evaluate
from stagecast.models import Message, Snapshot, SourcePull
from stagecast.reports.context import (
    daily_update_context,
    risk_alert_context,
    stage_report_context,
)
from stagecast.reports.escape import clip
from stagecast.reports.render import TEXT_LIMITS, TITLE_LIMIT, render_report
from tests.builders import at, task
from tests.stagecast.reports.scenario import Scenario, stage_scenario

# A family (a ZWJ sequence), a flag (a pair of regional indicators), a thumbs-up with a skin
# tone, a keycap: one character each to a reader, several code points each to Python.
EMOJI_CHARACTERS = ("👨\u200d👩\u200d👧\u200d👦", "🇨🇳", "👍🏽", "1\ufe0f\u20e3")
EMOJI = "".join(EMOJI_CHARACTERS)
# The text each script repeats to 100,000 characters.
UNIT = {
    "latin": "Refactor the login flow ",
    "chinese": "重构登录流程与会员积分规则，",
    "emoji": EMOJI,
}
LONG = {script: unit * (100_000 // len(unit)) for script, unit in UNIT.items()}

# What one report may cost at most with that text in it: a few posts in any chat (with short
# text each report takes one), a Slack post a person can take in, and an email Gmail shows
# whole (it clips a message over 102 KB behind a link).
MAX_POSTS = 3
MAX_SLACK_POST_BYTES = 10_000
MAX_EMAIL_BYTES = 102_000

FLOODED = "PORTAL-9"  # newly blocked, at risk, and a problem of the design stage
LANGUAGES = ("zh-CN", "en")
AUDIENCES = ("client", "internal")
KINDS = ("daily_update", "stage_report", "risk_alert")
CHANNELS: dict[str, tuple[Any, Any]] = {
    "slack": (slack, SlackChannelConfig),
    "teams": (teams, TeamsChannelConfig),
    "wecom": (wecom, WeComChannelConfig),
    "feishu": (feishu, FeishuChannelConfig),
    "dingtalk": (dingtalk, DingTalkChannelConfig),
}
CTX = ChannelContext("acme", Path("/nonexistent"))
HOOK = "STAGECAST_TEST_BOUNDED_HOOK"
CATEGORY = "bounded output"  # in the reliability tally: one case per report checked


@pytest.fixture(scope="module")
def chats() -> Iterator[dict[str, WebhookChannel]]:
    """Each chat channel, built as the product builds it; only `build_payload` is used."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(HOOK, "https://chat.example/hook/0123456789abcdef")
        yield {
            name: module.build(
                config.model_validate({"name": name, "type": name, "webhook": f"env:{HOOK}"}),
                CTX,
            )
            for name, (module, config) in CHANNELS.items()
        }


def flooded(language: str, long: str) -> tuple[Scenario, list[Snapshot]]:
    """The stage-report scenario with one card, today's decision and one Drive file `long`."""
    s, history = stage_scenario(language)
    card = {
        "title": long,
        "assignee": long,
        "status": long,
        "resolution": long,
        "last_comment": long,
    }
    today = s.snapshot.as_of.date()
    snapshot = replace(
        s.snapshot,
        tasks=tuple(replace(t, **card) if t.key == FLOODED else t for t in s.snapshot.tasks),
        minutes=tuple(
            replace(m, text=long, document=long) if m.date == today else m
            for m in s.snapshot.minutes
        ),
        documents=(replace(s.snapshot.documents[0], name=long), *s.snapshot.documents[1:]),
    )
    return replace(s, snapshot=snapshot), history


def render(
    kind: str, s: Scenario, history: list[Snapshot], language: str, audience: Any
) -> Message:
    """One report of the flooded project, as a flow renders it."""
    common: dict[str, Any] = {"audience": audience, "language": language, "calendar": s.calendar}
    if kind == "daily_update":
        context: Any = daily_update_context(s.project, s.snapshot, s.since, **common)
    elif kind == "stage_report":
        context = stage_report_context(s.project, s.snapshot, "design", history, **common)
    else:
        flag = next(f for f in s.snapshot.risks if f.ident == ("blocked", FLOODED))
        context = risk_alert_context(s.project, s.snapshot, flag, history, **common)
    return render_report(kind, context, language=language, audience=audience)


def assert_bounded(message: Message, chats: dict[str, WebhookChannel]) -> None:
    """A few posts in every chat, each Slack post small, an email Gmail shows whole."""
    for name, channel in chats.items():
        posts = channel.build_payload(message)
        assert len(posts) <= MAX_POSTS, (name, len(posts))
        if name == "slack":
            sizes = [len(json.dumps(p, ensure_ascii=False).encode()) for p in posts]
            assert max(sizes) < MAX_SLACK_POST_BYTES, sizes
    assert message.html is not None
    assert len(message.html.encode()) < MAX_EMAIL_BYTES
    assert len(message.text.encode()) < MAX_EMAIL_BYTES
    assert len(message.title) <= TITLE_LIMIT


def longest_run(text: str, unit: str) -> int:
    """The most characters of `unit` repeated whole in a row: how much of a long text got
    through (the part before the cut, less at most one unit)."""
    return max((len(r) for r in re.findall(f"(?:{re.escape(unit)})+", text)), default=0)


@pytest.fixture(scope="module", params=list(LONG))
def script(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def messages(script: str) -> dict[tuple[str, str, str], Message]:
    found = {}
    for language in LANGUAGES:
        s, history = flooded(language, LONG[script])
        for audience in AUDIENCES:
            for kind in KINDS:
                found[kind, language, audience] = render(kind, s, history, language, audience)
    return found


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", KINDS)
def test_a_flooding_card_costs_a_few_posts_and_a_modest_email(
    messages: dict[tuple[str, str, str], Message],
    chats: dict[str, WebhookChannel],
    kind: str,
    language: str,
    audience: str,
    reliability_tally: Any,
) -> None:
    reliability_tally.record(CATEGORY, cases=1)
    assert_bounded(messages[kind, language, audience], chats)


def test_long_text_is_cut_to_each_formats_limit_with_an_ellipsis(
    script: str, messages: dict[tuple[str, str, str], Message], reliability_tally: Any
) -> None:
    reliability_tally.record(CATEGORY, cases=len(messages))
    for message in messages.values():
        for text, limit in (
            (message.markdown, TEXT_LIMITS["md"]),
            (message.text, TEXT_LIMITS["txt"]),
            (message.html or "", TEXT_LIMITS["html"]),
        ):
            assert 0 < longest_run(text, UNIT[script]) < limit
            assert "…" in text


def test_the_cut_falls_between_whole_characters(
    script: str, messages: dict[tuple[str, str, str], Message], reliability_tally: Any
) -> None:
    """What a reader sees before "…" is the text's own beginning in whole characters: no half
    of a surrogate pair, no family split at a joiner, no half flag, no bare skin tone."""
    reliability_tally.record(CATEGORY, cases=1)
    internal = messages["daily_update", "en", "internal"]
    assert clip(LONG[script], TEXT_LIMITS["txt"]) in internal.text
    whole = {"".join(EMOJI_CHARACTERS[:n]) for n in range(len(EMOJI_CHARACTERS))}
    for text in (internal.markdown, internal.text, internal.html or ""):
        assert not re.search("[\ud800-\udfff]", text)
        for cut in re.finditer("…", text):
            before = text[: cut.start()]
            if script == "emoji" and EMOJI in before[-2 * len(EMOJI) :]:
                tail = before[before.rfind(EMOJI) + len(EMOJI) :]
                assert tail in whole, ascii(tail)


def one_card_board(long: str) -> tuple[Scenario, list[Snapshot]]:
    """One card whose every field is `long`, read by the real rules: a stage named by its label,
    the card overdue and blocked in its list, and Drive failing with an error as long."""
    project = ProjectConfig.model_validate(
        {
            "key": "flood",
            "name": "Flood",
            "timezone": "Asia/Shanghai",
            "sources": [
                {"type": "jira", "url": "https://j.example", "token": "env:T", "jql": "x"},
                {"type": "gdrive", "folder": "f", "credentials": "env:G"},
            ],
        }
    )
    card = task(
        "F-1",
        "in_progress",
        title=long,
        source="jira",
        url="https://j.example/browse/F-1",
        stage_value=long,
        assignee=long,
        due="2026-11-19",
        blocked=True,
        status=long,
        labels=(long,),
    )
    outcomes = [
        SourceOutcome("jira", "jira", SourcePull((card,)), None, None),
        SourceOutcome("gdrive", "gdrive", None, long, None),
    ]
    snapshot = evaluate(project, at("2026-11-20 17:30"), outcomes, None, {})
    since = replace(snapshot, as_of=at("2026-11-19 17:30"), tasks=(), risks=())
    return Scenario(project, snapshot, since, calendar_for(project)), [since]


@pytest.mark.parametrize("audience", AUDIENCES)
def test_a_stage_and_risks_named_by_source_text_are_bounded(
    script: str, chats: dict[str, WebhookChannel], audience: Any, reliability_tally: Any
) -> None:
    s, history = one_card_board(LONG[script])
    common: dict[str, Any] = {"audience": audience, "language": "en", "calendar": s.calendar}
    stage = s.snapshot.stages[0].key
    contexts: list[tuple[str, Any]] = [
        ("daily_update", daily_update_context(s.project, s.snapshot, s.since, **common)),
        ("stage_report", stage_report_context(s.project, s.snapshot, stage, history, **common)),
    ]
    contexts += [
        ("risk_alert", risk_alert_context(s.project, s.snapshot, flag, history, **common))
        for flag in s.snapshot.risks
    ]
    assert len(s.snapshot.risks) >= 3  # overdue, blocked, source unavailable at least
    reliability_tally.record(CATEGORY, cases=len(contexts))
    for kind, context in contexts:
        assert_bounded(render_report(kind, context, language="en", audience=audience), chats)


def test_a_stage_key_from_a_huge_label_is_bounded(reliability_tally):
    """A stage discovered from a 100,000-character label: its key (in event resources, ledger
    periods, file names) stays short, and two such labels keep apart."""
    from stagecast.slug import MAX_KEY, slugify

    reliability_tally.record("bounded output", cases=2)
    one, other = slugify("设计" * 50_000), slugify("设计" * 49_999 + "开发")
    assert len(one) <= MAX_KEY and len(other) <= MAX_KEY and one != other
    assert slugify("需求确认") == "需求确认"
