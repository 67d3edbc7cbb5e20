"""Making text from sources safe for each output format (SPEC §7, §11 "Injection").

Titles, comments, document names, decision text and stage names come from people typing into
Jira, Trello and Drive. Whatever they typed must read as text: it must not ping a channel, turn
into a link or a heading, or run in an email client. HTML is escaped by Jinja's autoescape; this
module does markdown (for chat) and plain text (for email), and checks link targets.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

__all__ = ["break_mentions", "md_escape", "md_url", "one_line", "plain", "safe_url"]

# Control characters, and the invisible marks that reorder text (a title can be made to read
# backwards with them). Whitespace controls are handled separately: they become spaces.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)
_WHITESPACE = re.compile(r"\s+")  # includes \n \r \t \v \f \x1c-\x1f \x85 \u2028 \u2029

# Markdown that acts anywhere in a line: emphasis, code, strike-through, links, table cells.
_MD_INLINE = re.compile(r"([\\`*_~\[\]|])")
# Markdown that acts at the start of a line: headings, lists, quotes (`>` is an entity anyway),
# setext underlines, ordered lists (`1.` / `1)`).
_MD_LINE_START = re.compile(r"^([#+=-])")
_MD_ORDERED = re.compile(r"^(\d{1,9})([.)])")

_ZWSP = "\u200b"  # zero-width space: `@\u200ball` reads as @all but pings nobody
# The openings of chat mentions written with angle brackets: Slack `<!channel>`, `<@U123>`,
# `<#C123>`, Feishu `<at user_id="all">`, Teams `<at>`.
_MENTION_OPEN = re.compile(r"<(?=[!@#]|at\b)", re.IGNORECASE)


def one_line(text: object) -> str:
    """Text on one line: control characters dropped, any run of whitespace one space."""
    return _WHITESPACE.sub(" ", _INVISIBLE.sub("", str(text))).strip()


def break_mentions(text: str) -> str:
    """Mentions that read the same but ping nobody: a zero-width space after `@` and after the
    `<` of `<!channel>`, `<@U123>`, `<at …>`."""
    return _MENTION_OPEN.sub("<" + _ZWSP, text.replace("@", "@" + _ZWSP))


def plain(text: object) -> str:
    """Text for plain text: one line, no control characters, and no mention that could ping
    should the text end up in a chat message (a notification fallback, say)."""
    return break_mentions(one_line(text))


def md_escape(text: object) -> str:
    """Text that reads the same in markdown but has no markdown, HTML or mention in it.

    Emphasis, code, link and table characters get a backslash; `& < >` become entities, so no
    HTML tag, `<!channel>`, `<@U123>` or `<at user_id=…>` survives; `@` is followed by a
    zero-width space, so `@all` pings nobody; newlines become spaces, so nothing can start a
    heading, list or quote; and a leading `#`, `-`, `+`, `=` or `1.` is escaped for places where
    the value starts a line.
    """
    line = one_line(text)
    line = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    line = _MD_INLINE.sub(r"\\\1", line)
    line = line.replace("@", "@" + _ZWSP)
    line = _MD_LINE_START.sub(r"\\\1", line)
    return _MD_ORDERED.sub(r"\1\\\2", line)


def safe_url(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) link, else None (no `javascript:`, no `data:`)."""
    if not url:
        return None
    candidate = url.strip()
    if _INVISIBLE.search(candidate) or _WHITESPACE.search(candidate):
        return None
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return candidate


def md_url(url: str) -> str:
    """A link target for `[text](url)`: characters that could end the link are percent-encoded."""
    return quote(url, safe=":/?#@!$&'*+,;=%~-._[]")
