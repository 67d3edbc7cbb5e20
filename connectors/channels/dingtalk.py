"""DingTalk (钉钉) custom robot: `{"msgtype": "markdown", "markdown": {"title", "text"}}`.

A message may be 20 000 bytes; a robot takes 20 messages a minute and, past that, is throttled
for ten minutes. With a `secret` the URL carries `timestamp` (milliseconds) and `sign` =
urlencode(base64(HMAC-SHA256(key=secret, message="{timestamp}\\n{secret}"))), as apprise does.
Answers are HTTP 200 with `errcode`: 0 sent; 130101/410100 throttled (retryable, but not now: a
retry inside the penalty only extends it); -1 busy (retry); 310000 keyword missing, bad
signature or IP not allowed, 300001/300005/400101 bad token, and the rest are final.

DingTalk markdown documents no escaping: source text gets the zero-width spaces that keep tags,
links and emphasis from forming. Mentions: `at.atUserIds` / `at.atMobiles` plus `@id` in the text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

from connectors.channels.base import ChannelContext
from connectors.channels.webhook import (
    Dialect,
    WebhookChannel,
    convert,
    guarded_text,
)
from stagecast.config import DingTalkChannelConfig
from stagecast.models import Message

MAX_BYTES = 20_000
_MOBILE = re.compile(r"\+?[0-9][0-9-]{4,19}")
_USER_ID = re.compile(r"[A-Za-z0-9_.@$-]{1,64}")


def _heading(level: int, inner: str) -> str:
    return f"{'#' * level} {inner}"


DINGTALK = Dialect(text=guarded_text, heading=_heading, guard_line_start=True)


def dingtalk_sign(timestamp: str, secret: str) -> str:
    """DingTalk's signature (base64; httpx percent-encodes it in the query)."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class DingTalkChannel(WebhookChannel):
    """Posts markdown messages to a DingTalk custom robot."""

    platform = "dingtalk"
    rate = (20, 60.0)
    limit = MAX_BYTES

    def compose(self, part: str, message: Message, *, tag: str, mentions: bool) -> dict[str, Any]:
        """Title for the notification, markdown text with `@` mentions and the keyword."""
        pieces = [convert(part, DINGTALK)]
        mobiles, ids, named = _mentions(self.mentioned(mentions))
        if mobiles or ids or named:
            pieces.append(" ".join([*(f"@{m}" for m in mobiles + ids), *named]))
        if self.keyword:
            pieces.append(self.keyword)
        body: dict[str, Any] = {
            "msgtype": "markdown",
            "markdown": {"title": self.title(message, tag), "text": "\n\n".join(pieces)},
        }
        if mobiles or ids:
            body["at"] = {"atMobiles": mobiles, "atUserIds": ids, "isAtAll": False}
        return body

    def sign(
        self, body: dict[str, Any], secret: str
    ) -> tuple[dict[str, Any], dict[str, str] | None]:
        """`timestamp` and `sign` go into the query, next to `access_token`."""
        timestamp = str(int(self.clock() * 1000))
        return body, {"timestamp": timestamp, "sign": dingtalk_sign(timestamp, secret)}


def _mentions(names: tuple[str, ...]) -> tuple[list[str], list[str], list[str]]:
    """Mobiles, user ids, and names that are neither (written as text, pinging nobody)."""
    mobiles = [n for n in names if _MOBILE.fullmatch(n)]
    ids = [n for n in names if n not in mobiles and _USER_ID.fullmatch(n)]
    named = [guarded_text(f"@{n}") for n in names if n not in mobiles and n not in ids]
    return mobiles, ids, named


def build(cfg: DingTalkChannelConfig, ctx: ChannelContext) -> DingTalkChannel:
    """The factory for `CHANNEL_TYPES["dingtalk"]`."""
    return DingTalkChannel.from_config(cfg)
