"""Slack incoming webhook: Block Kit `section` blocks of mrkdwn, with a `text` fallback.

Slack's limits: 50 blocks a message, 3000 characters a section's text; one post a second per
webhook. Answers: `200 ok`; `429 rate_limited` with Retry-After; 4xx with a word
(`invalid_payload`, `no_service`, `channel_is_archived`, …) that no retry fixes.

mrkdwn has no escape for `*`, `_`, `~` and `` ` ``: in source text they get zero-width spaces on
both sides, so they cannot open or close formatting; `&`, `<` and `>` become entities, so no
`<!channel>`, `<@U…>` or `<url|link>` can come from a task.
"""

from __future__ import annotations

import re
from typing import Any

from connectors.channels.base import ChannelContext
from connectors.channels.webhook import (
    ZWSP,
    Dialect,
    WebhookChannel,
    convert,
    no_autolink,
)
from stagecast.config import SlackChannelConfig
from stagecast.models import Message
from stagecast.reports.parts import pack_sections

MAX_BLOCKS = 50
SECTION_CHARS = 3000
_FORMATTING = re.compile(r"([*_~`])")
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def slack_text(text: str) -> str:
    """Literal text in mrkdwn: entities for `& < >`, formatting characters fenced off."""
    text = no_autolink(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _FORMATTING.sub(ZWSP + "\\1" + ZWSP, text)


def _link(text: str, url: str) -> str:
    return f"<{url.replace('&', '&amp;')}|{text}>"


def _bold(inner: str) -> str:
    return f"*{inner}*"


def _heading(level: int, inner: str) -> str:
    return f"*{inner}*"


SLACK = Dialect(text=slack_text, bold=_bold, heading=_heading, link=_link, bullet="• ")


def utf16_len(text: str) -> int:
    """Characters as Slack counts them (an emoji outside the BMP is two)."""
    return len(text.encode("utf-16-le")) // 2


class SlackChannel(WebhookChannel):
    """Posts Block Kit messages to a Slack incoming webhook."""

    platform = "slack"
    rate = (1, 1.0)
    limit = MAX_BLOCKS
    public_path = "/services/"

    def compose(self, part: str, message: Message, *, tag: str, mentions: bool) -> dict[str, Any]:
        """Sections of at most 3000 characters, cut at blank lines, then lines."""
        paragraphs = [convert(part, SLACK)]
        if names := self.mentioned(mentions):
            paragraphs.append(" ".join(_mention(name) for name in names))
        fallback = slack_text(self.title(message, tag))
        if self.keyword:
            paragraphs.append(slack_text(self.keyword))
            fallback = f"{fallback} · {slack_text(self.keyword)}"
        text = "\n\n".join(p for p in paragraphs if p)
        chunks = pack_sections(text.split("\n\n"), SECTION_CHARS, size=utf16_len) or [fallback]
        return {
            "text": fallback,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks],
            "unfurl_links": False,
            "unfurl_media": False,
        }

    def size(self, body: dict[str, Any]) -> int:
        """Slack counts blocks."""
        return len(body["blocks"])


def _mention(name: str) -> str:
    """`<@U024BE7LH>` for a member id; a name is written as `@name` and pings nobody."""
    return f"<@{name}>" if _USER_ID.fullmatch(name) else slack_text(f"@{name}")


def build(cfg: SlackChannelConfig, ctx: ChannelContext) -> SlackChannel:
    """The factory for `CHANNEL_TYPES["slack"]`."""
    return SlackChannel.from_config(cfg)
