"""Making text from sources safe for each output format (SPEC §7, §11 "Injection").

Titles, comments, document names, decision text and stage names come from people typing into
Jira, Trello and Drive. Whatever they typed must read as text: it must not ping a channel, turn
into a link or a heading, or run in an email client. HTML is escaped by Jinja's autoescape; this
module does markdown (for chat) and plain text (for email), checks link targets, and keeps
each piece of text short enough that one card cannot flood a chat (`clip`, `SourceText`).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, urlsplit

__all__ = [
    "ELLIPSIS",
    "SOURCE_TEXT_LIMIT",
    "URL_LIMIT",
    "SourceText",
    "break_mentions",
    "clip",
    "md_escape",
    "md_url",
    "one_line",
    "plain",
    "safe_url",
    "source_text",
]

ELLIPSIS = "…"
# The most characters one piece of source text (a title, a name, a comment, a decision) keeps
# in any report, whatever a template does with it: a card with a 100,000-character title must
# not become eighty chat posts. The renderer cuts shorter still for each format.
SOURCE_TEXT_LIMIT = 1000
# A link longer than browsers reliably open is not shown as a link; cutting it would break it.
URL_LIMIT = 2048

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
_MENTION_AT = re.compile("@(?!" + _ZWSP + ")")


def one_line(text: object) -> str:
    """Text on one line: control characters dropped, any run of whitespace one space."""
    return _WHITESPACE.sub(" ", _INVISIBLE.sub("", str(text))).strip()


class SourceText(str):
    """Text someone typed into Jira, Trello or Drive, on one line and at most
    `SOURCE_TEXT_LIMIT` characters. The renderer knows it by this type and cuts it to each
    format's own limit (a chat line is shorter than an email's). Links are not source text
    (cut, they would lead nowhere), nor are the team's own words from the config (the project's
    name, the charter)."""

    __slots__ = ()


def source_text(text: object) -> SourceText:
    """Source text as a report holds it: one line, at most `SOURCE_TEXT_LIMIT` characters."""
    return SourceText(clip(one_line(text), SOURCE_TEXT_LIMIT))


def clip(text: str, limit: int) -> str:
    """The text, or its beginning and "…" in at most `limit` characters (code points).

    The cut falls between two characters as a reader sees them, never inside one: an accented
    letter, a flag, an emoji with its skin tone or its family joined by ZWJ, a Hangul syllable
    spelled in jamo, a surrogate pair; nor after a space. A first character longer than the
    limit leaves "…".
    """
    if limit < len(ELLIPSIS):
        raise ValueError("limit must leave room for the ellipsis")
    if len(text) <= limit:
        return text
    cut = limit - len(ELLIPSIS)
    while cut > 0 and (text[cut - 1].isspace() or not _grapheme_boundary(text, cut)):
        cut -= 1
    return text[:cut] + ELLIPSIS


# Characters that belong to the one before them (Unicode's grapheme rules, UAX #29, on the safe
# side): combining marks (by category, below), joiners, Thai and Lao vowels that extend,
# Hangul vowel and final jamo, halfwidth kana sound marks, emoji skin tones, tag characters
# (subdivision flags), the low half of a surrogate pair.
_JOINS_PREVIOUS = re.compile(
    "[\u200c\u200d\u0e33\u0eb3\u1160-\u11ff\ud7b0-\ud7ff\uff9e\uff9f"
    "\U0001f3fb-\U0001f3ff\U000e0020-\U000e007f\udc00-\udfff]"
)
# Characters that belong to the one after them: the zero-width joiner (emoji families), Hangul
# leading jamo, prefixed number signs, the high half of a surrogate pair. A virama joins the
# next consonant into a conjunct, even with marks between them (`_joins_conjunct`).
_JOINS_NEXT = re.compile(
    "[\u200d\u0600-\u0605\u06dd\u070f\u0890\u0891\u08e2\u1100-\u115f"
    "\ua960-\ua97f\ud800-\udbff\U000110bd\U000110cd]"
)
_REGIONAL_INDICATOR = re.compile("[\U0001f1e6-\U0001f1ff]")
_VIRAMA = 9  # canonical combining class


def _grapheme_boundary(text: str, index: int) -> bool:
    """Whether a reader sees two characters either side of `text[index]`'s left edge."""
    before, after = text[index - 1], text[index]
    if before == "\r" and after == "\n":
        return False
    if _joins_previous(after):
        return False
    if _JOINS_NEXT.match(before) or _joins_conjunct(text, index):
        return False
    if _REGIONAL_INDICATOR.match(before) and _REGIONAL_INDICATOR.match(after):
        return _regional_indicators_before(text, index) % 2 == 0  # flags are pairs
    return True


def _joins_conjunct(text: str, index: int) -> bool:
    """Whether the marks just before `index` hold a virama (found by its combining class)."""
    while index > 0 and _joins_previous(text[index - 1]):
        index -= 1
        if unicodedata.combining(text[index]) == _VIRAMA:
            return True
    return False


def _joins_previous(char: str) -> bool:
    """Whether a character extends the one before it (a mark, a joiner, a skin tone…)."""
    return unicodedata.category(char).startswith("M") or bool(_JOINS_PREVIOUS.match(char))


def _regional_indicators_before(text: str, index: int) -> int:
    """How many regional indicators run up to `index`: an even count ends a flag."""
    start = index
    while start > 0 and _REGIONAL_INDICATOR.match(text[start - 1]):
        start -= 1
    return index - start


def break_mentions(text: str) -> str:
    """Mentions that read the same but ping nobody: a zero-width space after `@` and after the
    `<` of `<!channel>`, `<@U123>`, `<at …>`. Text broken once is left as it is: plain text
    passes through here at each level of a template's nesting."""
    return _MENTION_OPEN.sub("<" + _ZWSP, _MENTION_AT.sub("@" + _ZWSP, text))


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
    if len(candidate) > URL_LIMIT or _INVISIBLE.search(candidate) or _WHITESPACE.search(candidate):
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
