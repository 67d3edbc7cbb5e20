"""Microsoft Teams through a Workflows (Power Automate) webhook: one Adaptive Card per post.

The card's body is a TextBlock per paragraph (headings bold and larger, since TextBlock markdown
has no headings). Teams allows about 28 KB a message and rejects more with 413; we keep posts
under 24 000 bytes of JSON, because the limit counts the message as Teams renders it. The
Workflows endpoint answers 202 Accepted; 429 with Retry-After; other 4xx are final.

TextBlock markdown is CommonMark-like and shows HTML as text: source text gets backslash escapes
(and `<` a zero-width space, so Teams' `<at>` mention syntax cannot form). Mentions are plain
`@name` text: a real Teams mention needs the member's id in the card's `msteams.entities`.
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
    convert_inline,
    no_autolink,
)
from stagecast.config import TeamsChannelConfig
from stagecast.models import Message

CARD = "application/vnd.microsoft.card.adaptive"
MAX_BYTES = 24_000
_SPECIAL = re.compile(r"([\\`*_~\[\]|&<>#])")
_HEADING = re.compile(r"(#{1,6}) (.*)")


def teams_text(text: str) -> str:
    """Literal text in TextBlock markdown."""
    return _SPECIAL.sub(r"\\\1", no_autolink(text)).replace("\\<", "\\<" + ZWSP)


TEAMS = Dialect(text=teams_text)


def text_block(text: str, **style: Any) -> dict[str, Any]:
    """A wrapping TextBlock."""
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


class TeamsChannel(WebhookChannel):
    """Posts Adaptive Cards to a Teams Workflows webhook."""

    platform = "teams"
    rate = (4, 1.0)
    limit = MAX_BYTES
    # A Workflow with a Response action may hold the request up to 120 s before answering.
    read_timeout = 125.0

    def compose(self, part: str, message: Message, *, tag: str, mentions: bool) -> dict[str, Any]:
        """A card with a TextBlock per paragraph, then the mentions and the keyword."""
        body = [_block(paragraph) for paragraph in part.split("\n\n") if paragraph.strip()]
        if names := self.mentioned(mentions):
            body.append(text_block(" ".join(teams_text(f"@{name}") for name in names)))
        if self.keyword:
            body.append(text_block(teams_text(self.keyword), isSubtle=True, size="Small"))
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "msteams": {"width": "Full"},
            "body": body or [text_block(teams_text(self.title(message, tag)))],
        }
        return {
            "type": "message",
            "attachments": [{"contentType": CARD, "contentUrl": None, "content": card}],
        }


def _block(paragraph: str) -> dict[str, Any]:
    """A heading on its own is a bold, larger TextBlock; anything else keeps its markdown."""
    heading = _HEADING.fullmatch(paragraph)
    if heading:
        size = "Large" if len(heading[1]) == 1 else "Medium"
        return text_block(convert_inline(heading[2], TEAMS), weight="Bolder", size=size)
    return text_block(convert(paragraph, TEAMS))


def build(cfg: TeamsChannelConfig, ctx: ChannelContext) -> TeamsChannel:
    """The factory for `CHANNEL_TYPES["teams"]`."""
    return TeamsChannel.from_config(cfg)
