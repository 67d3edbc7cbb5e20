"""WeCom (企业微信) group bot: `{"msgtype": "markdown", "markdown": {"content": …}}`.

The content is at most 4096 bytes of UTF-8; a bot takes 20 messages a minute. Answers are HTTP
200 with `errcode`: 0 sent; 45009 rate limit (the minute's window: wait it out, then retry);
-1 busy (retry); 93000 invalid webhook URL and the other codes are final.

WeCom markdown documents no escaping, so source text gets zero-width spaces that keep tags
(`<@userid>`, `<font>`), links and emphasis from forming. Mentions: `<@userid>` in the content.
WeCom group bots have no keyword setting; a configured `keyword` is added all the same.
"""

from __future__ import annotations

import re
from typing import Any

from connectors.channels.base import ChannelContext
from connectors.channels.webhook import (
    Dialect,
    WebhookChannel,
    convert,
    guarded_text,
)
from stagecast.config import WeComChannelConfig
from stagecast.models import Message
from stagecast.reports.parts import utf8_size

MAX_BYTES = 4096
_USER_ID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def _heading(level: int, inner: str) -> str:
    return f"{'#' * level} {inner}"


WECOM = Dialect(text=guarded_text, heading=_heading, guard_line_start=True)


class WeComChannel(WebhookChannel):
    """Posts markdown messages to a WeCom group bot."""

    platform = "wecom"
    rate = (20, 60.0)
    limit = MAX_BYTES

    def compose(self, part: str, message: Message, *, tag: str, mentions: bool) -> dict[str, Any]:
        """The part's markdown, then `<@userid>` mentions, then the keyword."""
        pieces = [convert(part, WECOM)]
        if names := self.mentioned(mentions):
            pieces.append(" ".join(_mention(name) for name in names))
        if self.keyword:
            pieces.append(self.keyword)
        return {"msgtype": "markdown", "markdown": {"content": "\n\n".join(pieces)}}

    def size(self, body: dict[str, Any]) -> int:
        """WeCom counts the content's UTF-8 bytes."""
        return utf8_size(body["markdown"]["content"])


def _mention(name: str) -> str:
    """`<@userid>`; a name that is not an id is written as text."""
    return f"<@{name}>" if _USER_ID.fullmatch(name) else guarded_text(f"@{name}")


def build(cfg: WeComChannelConfig, ctx: ChannelContext) -> WeComChannel:
    """The factory for `CHANNEL_TYPES["wecom"]`."""
    return WeComChannel.from_config(cfg)
