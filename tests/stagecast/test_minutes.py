"""Minutes text to decisions and action items (SPEC §3), and the meeting's date."""

from __future__ import annotations

from datetime import date

import pytest

from stagecast.minutes import classify_line, meeting_date, parse_minutes, strip_bullets
from stagecast.models import MinuteItem


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("决定：采用方案 A", ("decision", "采用方案 A")),
        ("决定: 半角冒号", ("decision", "半角冒号")),
        ("决定 ：冒号前有空格", ("decision", "冒号前有空格")),
        ("Decision: ship on Friday", ("decision", "ship on Friday")),
        ("decision: lower case", ("decision", "lower case")),
        ("DECISION：全角冒号", ("decision", "全角冒号")),
        ("待办：张三 周五前提交", ("action", "张三 周五前提交")),
        ("TODO: write the runbook", ("action", "write the runbook")),
        ("todo：混合大小写", ("action", "混合大小写")),
        ("ToDo : spaced", ("action", "spaced")),
        ("Action: book the room", ("action", "book the room")),
        ("action：全角", ("action", "全角")),
        ("决定：  两边空白  ", ("decision", "两边空白")),
        ("决定：时间：周五 10:00", ("decision", "时间：周五 10:00")),
    ],
)
def test_keywords_and_colons(line, expected):
    assert classify_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "- 决定：x",
        "* 决定：x",
        "• 决定：x",
        "· 决定：x",
        "+ 决定：x",
        "1. 决定：x",
        "12) 决定：x",
        "1、决定：x",
        "2.3. 决定：x",
        "(1) 决定：x",
        "（1）决定：x",
        "（一）决定：x",
        "① 决定：x",
        "一、决定：x",
        "a. 决定：x",
        "[ ] 决定：x",
        "[x] 决定：x",
        "☐ 决定：x",
        "    - 决定：x",
        "\t* 1. 决定：x",
        "\u3000\u3000决定：x",
        "\ufeff决定：x",
        "-决定：x",
    ],
)
def test_bullets_and_indentation_are_stripped(line):
    assert classify_line(line) == ("decision", "x")


@pytest.mark.parametrize(
    "line",
    [
        "Decisions: plural is not the keyword",
        "Decision making is hard",
        "决定性的一步",
        "我们决定：不算（不在行首）",
        "Actions: plural",
        "Action item: not the keyword",
        "决定：",
        "TODO：   ",
        "",
        "   ",
        "- ",
    ],
)
def test_lines_that_are_not_items(line):
    assert classify_line(line) is None


def test_strip_bullets_keeps_the_text():
    assert strip_bullets("  - 1) （2）• 正文") == "正文"
    assert strip_bullets("1.5 版本") == "5 版本"  # a leading number reads as a list marker
    assert strip_bullets("Decision: x") == "Decision: x"


def test_parse_minutes_keeps_order_and_where_each_item_came_from():
    text = (
        "项目周会\r\n"
        "- 决定：接口采用 REST\r\n"
        "  * Action: 王工 to draft the API\r\n"
        "无关的一行\r\n"
        "2. decision: keep Friday demos\r\n"
    )
    items = parse_minutes(
        text,
        document="周会纪要",
        url="https://docs.google.com/d/1",
        day=date(2026, 11, 16),
        source="drive",
    )
    assert items == (
        MinuteItem(
            "decision",
            "接口采用 REST",
            "周会纪要",
            "https://docs.google.com/d/1",
            date(2026, 11, 16),
            "drive",
        ),
        MinuteItem(
            "action",
            "王工 to draft the API",
            "周会纪要",
            "https://docs.google.com/d/1",
            date(2026, 11, 16),
            "drive",
        ),
        MinuteItem(
            "decision",
            "keep Friday demos",
            "周会纪要",
            "https://docs.google.com/d/1",
            date(2026, 11, 16),
            "drive",
        ),
    )


def test_parse_minutes_of_empty_text():
    assert parse_minutes("", document="d", url=None, day=None) == ()


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("2026-11-16 周会纪要", "", date(2026, 11, 16)),
        ("周会纪要 2026/11/5", "", date(2026, 11, 5)),
        ("Weekly 2026.11.05", "", date(2026, 11, 5)),
        ("周会20261118", "", date(2026, 11, 18)),
        ("2026年11月8日 评审会", "", date(2026, 11, 8)),
        ("周会", "标题\n日期：2026-11-12\n决定：x", date(2026, 11, 12)),
        ("Weekly", "Weekly sync\nDate: 2026/11/13\n", date(2026, 11, 13)),
        ("周会", "- 会议时间：2026年11月14日 14:00", date(2026, 11, 14)),
        ("2026-11-16 周会", "日期：2026-11-12", date(2026, 11, 16)),  # the title wins
        ("需求规格说明书 v2", "", None),
        ("2026-13-45 bad", "", None),
        ("周会", "决定：2026-11-12 上线", None),  # a date in an item is not the meeting's
    ],
)
def test_meeting_date(name, text, expected):
    assert meeting_date(name, text) == expected
