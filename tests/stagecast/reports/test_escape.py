"""Source text is neutralised for markdown and plain text (SPEC §11 "Injection"), and cut
short at a whole character (bounded output)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from stagecast.reports.escape import (
    ELLIPSIS,
    SOURCE_TEXT_LIMIT,
    URL_LIMIT,
    SourceText,
    break_mentions,
    clip,
    md_escape,
    md_url,
    one_line,
    plain,
    safe_url,
    source_text,
)

try:  # Unicode's own grapheme clusters (`\X`), to check `clip` against; not a dependency
    import regex
except ImportError:  # pragma: no cover
    regex = None

ZWSP = "\u200b"
MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def content(self) -> str:
        """The text, without the line breaks the renderer puts between blocks."""
        return "".join(self.text).strip("\n")


def rendered(markdown: str) -> _Collect:
    parsed = _Collect()
    parsed.feed(MD.render(markdown))
    parsed.close()
    return parsed


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain 文本", "plain 文本"),
        ("**bold**", r"\*\*bold\*\*"),
        ("snake_case", r"snake\_case"),
        ("[click](http://evil.example)", r"\[click\](http://evil.example)"),
        ("![x](http://evil.example/x.png)", r"!\[x\](http://evil.example/x.png)"),
        ("`code`", r"\`code\`"),
        ("~~gone~~", r"\~\~gone\~\~"),
        ("a | b", r"a \| b"),
        ("back\\slash", r"back\\slash"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("R&D", "R&amp;D"),
        ("&lt;b&gt;", "&amp;lt;b&amp;gt;"),
        ("<!channel> ping", "&lt;!channel&gt; ping"),
        ("<@U123ABC>", f"&lt;@{ZWSP}U123ABC&gt;"),
        ('<at user_id="all">所有人</at>', '&lt;at user\\_id="all"&gt;所有人&lt;/at&gt;'),
        ("@all 看这里", f"@{ZWSP}all 看这里"),
        ("mail me@x.example", f"mail me@{ZWSP}x.example"),
        ("# heading", r"\# heading"),
        ("## heading", r"\## heading"),
        ("- item", r"\- item"),
        ("+ item", r"\+ item"),
        ("===", r"\==="),
        ("1. first", r"1\. first"),
        ("2026) year", r"2026\) year"),
        ("> quote", "&gt; quote"),
        ("**bold**\n## fake heading", r"\*\*bold\*\* ## fake heading"),
        ("line\r\nbreak\u2028and\u2029more", "line break and more"),
        ("    indented code", "indented code"),
        ("tab\there", "tab here"),
        ("mid # not a heading", "mid # not a heading"),
        ("v1.0-req", "v1.0-req"),
    ],
)
def test_md_escape(text: str, escaped: str) -> None:
    assert md_escape(text) == escaped


@pytest.mark.parametrize(
    "text",
    [
        "<!channel> ping",
        "@all 看这里",
        "[click](http://evil.example)",
        "<script>alert(1)</script>",
        "**bold**\n## fake heading",
        "<img src=x onerror=alert(1)>",
        '<a href="http://evil.example">x</a>',
        "[x][1]\n\n[1]: http://evil.example",
        "<http://evil.example>",
        "```\ncode\n```",
    ],
)
def test_hostile_text_renders_as_one_paragraph_of_its_own_text(text: str) -> None:
    html = rendered(md_escape(text))
    assert html.tags == ["p"]
    assert html.content.replace(ZWSP, "") == one_line(text)


@given(st.text())
def test_any_text_reads_back_as_itself_and_nothing_more(text: str) -> None:
    escaped = md_escape(text)
    assert "\n" not in escaped and "<" not in escaped and ">" not in escaped
    assert not re.search(f"@(?!{ZWSP})", escaped)
    html = rendered(escaped)
    expected = one_line(text).replace("@", "@" + ZWSP)
    assert html.tags == (["p"] if expected else [])
    assert html.content == expected


@given(st.text())
def test_escaped_text_in_a_list_item_stays_in_it(text: str) -> None:
    html = rendered(f"- {md_escape(text)}\n- next")
    assert [t for t in html.tags if t not in ("p",)] == ["ul", "li", "li"]


def test_one_line_drops_controls_and_direction_marks() -> None:
    assert one_line("a\x00b\x07c\x1bd\u202eevil\u202c\ufeff") == "abcdevil"
    assert one_line("  two\n\n lines  ") == "two lines"


@pytest.mark.parametrize(
    ("text", "broken"),
    [
        ("@all 看这里", f"@{ZWSP}all 看这里"),
        ("<!channel> <!here>", f"<{ZWSP}!channel> <{ZWSP}!here>"),
        ("<@U123> <#C123>", f"<{ZWSP}@{ZWSP}U123> <{ZWSP}#C123>"),
        ('<at user_id="all"></at> <AT>x', f'<{ZWSP}at user_id="all"></at> <{ZWSP}AT>x'),
        ("a < b, <script>", "a < b, <script>"),
    ],
)
def test_mentions_are_broken_invisibly(text: str, broken: str) -> None:
    assert break_mentions(text) == broken
    assert broken.replace(ZWSP, "") == text
    assert break_mentions(broken) == broken  # once: templates nest


def test_plain_text_is_one_line_without_pings() -> None:
    assert plain("<script>\n## x @all") == f"<script> ## x @{ZWSP}all"


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        (
            "https://acme.atlassian.net/browse/PORTAL-1",
            "https://acme.atlassian.net/browse/PORTAL-1",
        ),
        ("http://example.com/a?b=c#d", "http://example.com/a?b=c#d"),
        ("javascript:alert(1)", None),
        ("JavaScript:alert(1)", None),
        ("data:text/html,<script>", None),
        ("//evil.example/x", None),
        ("https://", None),
        ("https://x.example/a b", None),
        ("https://x.example/\na", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_url(url: str | None, safe: str | None) -> None:
    assert safe_url(url) == safe


def test_md_url_cannot_end_the_link_early() -> None:
    assert md_url("https://x.example/a_(b)<c>") == "https://x.example/a_%28b%29%3Cc%3E"
    html = MD.render(f"[doc]({md_url('https://x.example/a)](http://evil.example')})")
    assert html.count("<a ") == 1 and 'href="https://x.example/a%29%5D%28http' in html


def test_safe_url_refuses_a_link_too_long_to_open() -> None:
    base = "https://x.example/"
    assert safe_url(base + "a" * (URL_LIMIT - len(base))) is not None
    assert safe_url(base + "a" * (URL_LIMIT - len(base) + 1)) is None


# --- cutting long text ---------------------------------------------------------------------


def test_clip_keeps_short_text_and_cuts_long_text_with_an_ellipsis() -> None:
    assert clip("short", 5) == "short"
    assert clip("a longer title", 8) == "a longe…"
    assert clip("two words", 5) == "two…"  # no space before the ellipsis
    assert clip("界" * 10, 4) == "界界界…"
    assert clip("anything", 1) == ELLIPSIS
    with pytest.raises(ValueError):
        clip("anything", 0)


FAMILY = "👨\u200d👩\u200d👧\u200d👦"
ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"


@pytest.mark.parametrize(
    ("text", "limit", "cut"),
    [
        ("e\u0301" * 5, 4, "e\u0301…"),  # é spelled with a combining accent
        ("ab" + FAMILY * 3, 6, "ab…"),  # an emoji family joined by ZWJ
        ("ab" + FAMILY * 3, 10, "ab" + FAMILY + "…"),
        ("a🇨🇳🇺🇸🇯🇵", 5, "a🇨🇳…"),  # flags are pairs of regional indicators
        ("a🇨🇳🇺🇸🇯🇵", 4, "a🇨🇳…"),
        ("👍🏽" * 3, 4, "👍🏽…"),  # a skin tone belongs to its emoji
        ("1\ufe0f\u20e3" * 3, 5, "1\ufe0f\u20e3…"),  # a keycap: digit, variation selector, keycap
        (ENGLAND * 2, 7, "…"),  # a subdivision flag: a black flag and tag characters
        (ENGLAND * 2, 8, ENGLAND + "…"),
        ("\u1100\u1161\u11a8" * 3, 5, "\u1100\u1161\u11a8…"),  # 각 spelled in jamo
        ("क्षक्ष", 3, "…"),  # a conjunct: consonant, virama, consonant
        ("x\ud83d\ude00\ud83d\ude00", 3, "x…"),  # a surrogate pair that reached Python as two
        ("Z" + "\u0336" * 1000, 200, "…"),  # one character taller than the limit
    ],
)
def test_clip_never_cuts_inside_a_character(text: str, limit: int, cut: str) -> None:
    assert clip(text, limit) == cut


# Pieces of text that are, or build, characters of several code points: combining marks,
# joiners, variation selectors, skin tones, regional indicators, tag characters, Hangul jamo,
# Devanagari conjuncts, Thai and halfwidth-kana marks, an Arabic number sign, CR LF.
PIECES = st.sampled_from(
    [
        *("a", " ", "1", "e", "é", "界", "\u0301", "\u200c", "\u200d", "\ufe0f", "\u20e3"),
        *("👨", "👩", "👍", "🏽", "🇨", "🇳", "🏴", "\U000e0067", "\U000e007f"),
        *("\u1100", "\u1161", "\u11a8", "각", "क", "ष", "\u093c", "\u094d", "क्ष"),
        *("ก", "\u0e33", "ｶ", "\uff9e", "\u0600", "\r", "\n"),
    ]
)


@given(st.lists(PIECES, max_size=40).map("".join), st.integers(min_value=1, max_value=30))
def test_clip_is_a_prefix_of_whole_characters(text: str, limit: int) -> None:
    cut = clip(text, limit)
    assert len(cut) <= limit
    if cut == text:
        return
    assert cut.endswith(ELLIPSIS)
    kept = cut.removesuffix(ELLIPSIS)
    assert text.startswith(kept)
    assert not kept[-1:].isspace()
    if regex is not None:
        assert len(kept) in {0} | {m.end() for m in regex.finditer(r"\X", text)}


def test_source_text_is_one_line_and_at_most_the_source_text_limit() -> None:
    text = source_text("  a title\nwith lines  " + "x" * 5000)
    assert isinstance(text, SourceText) and isinstance(text, str)
    assert len(text) == SOURCE_TEXT_LIMIT and text.startswith("a title with lines x")
    assert text.endswith(ELLIPSIS) and "\n" not in text
    assert source_text("short") == "short"
