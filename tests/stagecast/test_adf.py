"""ADF (Jira Cloud's rich text) to plain text: each node kind, odd input, and never a crash."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stagecast.adf import adf_to_text


def doc(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(content)}


def para(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def text(value: str, **mark: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if mark:
        node["marks"] = [{"type": "link", "attrs": mark}]
    return node


def item(*content: dict[str, Any]) -> dict[str, Any]:
    return {"type": "listItem", "content": list(content)}


def test_paragraphs_are_lines_and_hard_breaks_break_them() -> None:
    body = doc(
        para(text("第一段"), {"type": "hardBreak"}, text("续行")),
        para(text("Second paragraph")),
    )
    assert adf_to_text(body) == "第一段\n续行\nSecond paragraph"


def test_mentions_emoji_cards_links_dates_and_status_read_as_people_see_them() -> None:
    body = doc(
        para(
            {"type": "mention", "attrs": {"id": "acc-1", "text": "@张三"}},
            text(" and "),
            {"type": "mention", "attrs": {"id": "acc-2", "text": "Li Si"}},
            text(" "),
            {"type": "emoji", "attrs": {"shortName": ":rocket:", "text": "🚀"}},
            {"type": "emoji", "attrs": {"shortName": ":awthanks:"}},
        ),
        para({"type": "inlineCard", "attrs": {"url": "https://acme.atlassian.net/browse/P-1"}}),
        para(
            text("the spec", href="https://docs.example/spec"),
            text(" / "),
            text("https://x.io", href="https://x.io"),
        ),
        para(
            {"type": "date", "attrs": {"timestamp": "1795046400000"}},
            text(" "),
            {"type": "status", "attrs": {"text": "IN REVIEW", "color": "blue"}},
        ),
    )
    assert adf_to_text(body).split("\n") == [
        "@张三 and @Li Si 🚀:awthanks:",
        "https://acme.atlassian.net/browse/P-1",
        "the spec (https://docs.example/spec) / https://x.io",
        "2026-11-19 IN REVIEW",
    ]


def test_lists_nest_and_number_from_their_order() -> None:
    nested = {"type": "bulletList", "content": [item(para(text("inner")))]}
    body = doc(
        {"type": "heading", "attrs": {"level": 2}, "content": [text("问题与解决")]},
        {
            "type": "bulletList",
            "content": [item(para(text("one")), nested), item(para(text("two")))],
        },
        {
            "type": "orderedList",
            "attrs": {"order": 3},
            "content": [item(para(text("c"))), item(para(text("d")))],
        },
    )
    assert adf_to_text(body).split("\n") == [
        "问题与解决",
        "- one",
        "  - inner",
        "- two",
        "3. c",
        "4. d",
    ]


def test_code_quotes_tables_rules_and_tasks() -> None:
    cell = lambda value: {"type": "tableCell", "content": [para(text(value))]}  # noqa: E731
    body = doc(
        {
            "type": "codeBlock",
            "attrs": {"language": "sql"},
            "content": [text("select 1;\nselect 2;")],
        },
        {"type": "blockquote", "content": [para(text("客户原话"))]},
        {"type": "rule"},
        {
            "type": "table",
            "content": [
                {
                    "type": "tableRow",
                    "content": [
                        {"type": "tableHeader", "content": [para(text("阶段"))]},
                        cell("状态"),
                    ],
                },
                {"type": "tableRow", "content": [cell("UAT"), cell("done ✅")]},
            ],
        },
        {
            "type": "taskList",
            "content": [
                {"type": "taskItem", "attrs": {"state": "DONE"}, "content": [text("deploy")]},
                {"type": "taskItem", "attrs": {"state": "TODO"}, "content": [text("notify")]},
            ],
        },
    )
    assert adf_to_text(body).split("\n") == [
        "select 1;",
        "select 2;",
        "> 客户原话",
        "---",
        "阶段 | 状态",
        "UAT | done ✅",
        "[x] deploy",
        "[ ] notify",
    ]


def test_unknown_nodes_give_their_childrens_text() -> None:
    body = doc(
        {"type": "fancyNewBlock", "content": [para(text("inside a new block"))]},
        para(text("a "), {"type": "fancyInline", "content": [text("nested")]}, text(" word")),
        {"type": "panel", "attrs": {"panelType": "warning"}, "content": [para(text("注意"))]},
        {"type": "expand", "attrs": {"title": "详情"}, "content": [para(text("hidden"))]},
        {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "m1"}}]},
    )
    assert adf_to_text(body).split("\n") == [
        "inside a new block",
        "a nested word",
        "注意",
        "详情",
        "hidden",
    ]


def test_text_none_and_junk() -> None:
    assert adf_to_text("plain text from API v2 *as is*") == "plain text from API v2 *as is*"
    assert adf_to_text(None) == ""
    assert adf_to_text(42) == ""
    assert adf_to_text({"type": "doc"}) == ""
    assert (
        adf_to_text(doc(para(), para(text("x")), para(), para(), para(text("y")), para()))
        == "x\n\ny"
    )
    assert adf_to_text({"type": "doc", "content": ["junk", None, para(text("ok"))]}) == "ok"


def test_stray_inline_nodes_at_block_level_make_a_paragraph() -> None:
    body = {"type": "doc", "content": [text("loose "), text("words"), para(text("then a block"))]}
    assert adf_to_text(body) == "loose words\nthen a block"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "content", "text", "attrs", "marks", "href", "url", "order"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=30,
)


@given(_json)
def test_any_json_gives_text_and_never_raises(value: object) -> None:
    assert isinstance(adf_to_text(value), str)


@given(st.text())
def test_a_string_is_returned_unchanged(value: str) -> None:
    assert adf_to_text(value) == value
