"""Feishu / Lark custom bot: an interactive card (`msg_type: "interactive"`).

The card has a plain-text header (the report's title) and one `markdown` element. A request
body may be 20 KB; a bot takes 5 messages a second (and 100 a minute). With a `secret` the body
carries `timestamp` (seconds) and `sign` = base64(HMAC-SHA256(key="{timestamp}\\n{secret}",
message=b"")). Answers carry `code` (older bots: `StatusCode`): 0 sent; 11232 frequency limited
(retry); 19021 bad signature, 19022 IP not allowed, 19024 keyword missing, 9499 bad request and
the rest are final.

Card markdown takes HTML entities for its special characters, so source text gets numeric
entities (`&#60;`, `&#91;`…): nothing in it can become a tag, `<at>` mention, link or emphasis.
Mentions: `<at id=…></at>` (open_id or user_id), `<at email=…></at>`.
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
    drop_heading,
    encode,
    no_autolink,
)
from stagecast.config import FeishuChannelConfig
from stagecast.models import Message

MAX_BYTES = 20_000
SIGN_RESERVE = len(encode({"timestamp": "1700000000", "sign": "x" * 44})) - 1
COLOURS = {"risk_alert": "red", "stage_report": "green"}
_SPECIAL = re.compile(r"[&<>*_~`\[\]\\|#]")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EMAIL = re.compile(r"[^\s<>@]+@[^\s<>@]+\.[^\s<>@]+")


def feishu_text(text: str) -> str:
    """Literal text in card markdown: its special characters as numeric entities."""
    return _SPECIAL.sub(lambda m: f"&#{ord(m[0])};", no_autolink(text))


FEISHU = Dialect(text=feishu_text)


def feishu_sign(timestamp: str, secret: str) -> str:
    """Feishu's signature: the key is "timestamp\\nsecret", the message empty."""
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


class FeishuChannel(WebhookChannel):
    """Posts interactive cards to a Feishu/Lark custom bot."""

    platform = "feishu"
    rate = (5, 1.0)
    limit = MAX_BYTES
    public_path = "/open-apis/bot/v2/hook/"

    def compose(self, part: str, message: Message, *, tag: str, mentions: bool) -> dict[str, Any]:
        """The part's first heading moves to the card header (numbered); the rest is markdown."""
        pieces = [convert(drop_heading(part), FEISHU)]
        if names := self.mentioned(mentions):
            pieces.append(" ".join(_mention(name) for name in names))
        if self.keyword:
            pieces.append(self.keyword)
        content = "\n\n".join(p for p in pieces if p)
        header = {"tag": "plain_text", "content": self.title(message, tag)}
        card = {
            "config": {"wide_screen_mode": True},
            "header": {"title": header, "template": COLOURS.get(message.kind, "blue")},
            "elements": [{"tag": "markdown", "content": content}] if content else [],
        }
        return {"msg_type": "interactive", "card": card}

    def size(self, body: dict[str, Any]) -> int:
        """Bytes of the body, with room for the signature fields."""
        return len(encode(body)) + SIGN_RESERVE

    def sign(
        self, body: dict[str, Any], secret: str
    ) -> tuple[dict[str, Any], dict[str, str] | None]:
        """`timestamp` and `sign` go into the body."""
        timestamp = str(int(self.clock()))
        return {"timestamp": timestamp, "sign": feishu_sign(timestamp, secret), **body}, None


def _mention(name: str) -> str:
    """`<at id=…></at>` for an id, `<at email=…></at>` for an address, else `@name` as text."""
    if _ID.fullmatch(name):
        return f"<at id={name}></at>"
    if _EMAIL.fullmatch(name):
        return f"<at email={name}></at>"
    return feishu_text(f"@{name}")


def build(cfg: FeishuChannelConfig, ctx: ChannelContext) -> FeishuChannel:
    """The factory for `CHANNEL_TYPES["feishu"]`."""
    return FeishuChannel.from_config(cfg)
