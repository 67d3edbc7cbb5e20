"""Source text is neutralised for markdown and plain text (SPEC §11 "Injection")."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from stagecast.reports.escape import break_mentions, md_escape, md_url, one_line, plain, safe_url

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
