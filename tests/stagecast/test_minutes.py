"""Minutes text to decisions and action items (SPEC §3), and the meeting's date."""

from __future__ import annotations

from datetime import date

import pytest

from stagecast.minutes import (
    ActionParts,
    classify_line,
    meeting_date,
    parse_minutes,
    split_action,
    strip_bullets,
)
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
            "draft the API",
            "周会纪要",
            "https://docs.google.com/d/1",
            date(2026, 11, 16),
            "drive",
            owner="王工",
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


# --- action items: owner, due date, done ---------------------------------------------------

MEETING = date(2026, 11, 20)
NOV_25 = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("text", "owner", "due", "rest"),
    [
        # the forms the README documents, one per line
        ("@张三 完成接口文档 11月25日前", "张三", NOV_25, "完成接口文档"),
        ("[Li Na] send the spec by 2026-11-25", "Li Na", NOV_25, "send the spec"),
        ("Zhang San — fix login (due 2026-11-25)", "Zhang San", NOV_25, "fix login"),
        ("李娜：提交验收报告，截止 2026-11-27", "李娜", date(2026, 11, 27), "提交验收报告"),
        ("完成接口文档（负责人：张三，截止：11月25日）", "张三", NOV_25, "完成接口文档"),
        ("【王磊】确认部署窗口 2026年11月25日之前", "王磊", NOV_25, "确认部署窗口"),
        ("更新计划，负责人：王磊", "王磊", None, "更新计划"),
        ("owner: Li Na, update the plan by Nov 25", "Li Na", NOV_25, "update the plan"),
        ("Li Na to send the spec, due: 25 November", "Li Na", NOV_25, "send the spec"),
        ("王工 to draft the API", "王工", None, "draft the API"),
        (
            "Mary Ann Smith: book the room before 2026/11/25",
            "Mary Ann Smith",
            NOV_25,
            "book the room",
        ),
        ("欧阳娜娜：确认验收标准 DDL 11/25", "欧阳娜娜", NOV_25, "确认验收标准"),
        ("李娜——整理需求 11月25号前", "李娜", NOV_25, "整理需求"),
        ("@wang.lei 准备演示环境，截至 2026.11.25", "wang.lei", NOV_25, "准备演示环境"),
        ("ship the build by November 25, 2026.", None, NOV_25, "ship the build."),
        # what is not an owner stays in the text
        ("赵强周五前提交联调方案", None, None, "赵强周五前提交联调方案"),
        ("接口文档：周五前定稿", None, None, "接口文档：周五前定稿"),
        ("方案：采用 B 的细节补齐", None, None, "方案：采用 B 的细节补齐"),
        ("周五：提交周报", None, None, "周五：提交周报"),
        ("Backend: fix login", None, None, "Backend: fix login"),
        ("Migrate to Postgres", None, None, "Migrate to Postgres"),
        ("【紧急】修复登录", None, None, "【紧急】修复登录"),
        ("[Urgent] fix it", None, None, "[Urgent] fix it"),
        ("[P1] fix it", None, None, "[P1] fix it"),
        ("@all 请确认排期", None, None, "@all 请确认排期"),
        ("邮件 ops@acme.example 通知客户", None, None, "邮件 ops@acme.example 通知客户"),
        # what is not a due date stays in the text
        ("review the 2026-11-20 release notes", None, None, "review the 2026-11-20 release notes"),
        ("张三 周五前提交接口文档", None, None, "张三 周五前提交接口文档"),
        ("11月25日前端上线", None, None, "11月25日前端上线"),
        ("整理需求 2月30日前", None, None, "整理需求 2月30日前"),
        ("send it by 2026-13-01", None, None, "send it by 2026-13-01"),
        ("send it by Friday", None, None, "send it by Friday"),
    ],
)
def test_owner_and_due_date_of_an_action_item(text, owner, due, rest):
    assert split_action(text, MEETING) == ActionParts(rest, owner, due, False)


@pytest.mark.parametrize(
    ("text", "meeting", "due"),
    [
        ("完成 1月5日前", date(2026, 12, 28), date(2027, 1, 5)),  # the next January
        ("完成 11月18日前", date(2026, 11, 20), date(2026, 11, 18)),  # just past: this year
        ("完成 by 5 Jan", date(2026, 11, 20), date(2027, 1, 5)),
        ("完成 by 2026-01-05", date(2026, 11, 20), date(2026, 1, 5)),  # a year is a year
        ("完成 11月25日前", None, None),  # no meeting date to read the year from
        ("完成 by 2026-11-25", None, NOV_25),
    ],
)
def test_a_due_date_without_a_year_takes_the_meetings(text, meeting, due):
    assert split_action(text, meeting).due == due


@pytest.mark.parametrize(
    ("text", "done", "rest"),
    [
        ("[x] 提交报告", True, "提交报告"),
        ("[ ] 提交报告", False, "提交报告"),
        ("☑ 提交报告", True, "提交报告"),
        ("✅ 提交报告", True, "提交报告"),
        ("提交报告 ✓", True, "提交报告"),
        ("提交报告（已完成）", True, "提交报告"),
        ("【已完成】提交报告", True, "提交报告"),
        ("提交报告 — 已完成", True, "提交报告"),
        ("提交报告，已完成", True, "提交报告"),
        ("send the deck (done)", True, "send the deck"),
        ("send the deck [Done]", True, "send the deck"),
        ("send the deck - done", True, "send the deck"),
        ("done: send the deck", True, "send the deck"),
        ("make sure the migration is done", False, "make sure the migration is done"),
        ("确认已完成的接口清单", False, "确认已完成的接口清单"),
        ("Get it done.", False, "Get it done."),
    ],
)
def test_done_marks(text, done, rest):
    parts = split_action(text, MEETING)
    assert (parts.done, parts.text) == (done, rest)


def test_a_line_that_is_only_an_owner_and_a_date_keeps_its_words():
    assert split_action("@张三 11月25日前", MEETING) == ActionParts(
        "@张三 11月25日前", "张三", NOV_25, False
    )


def test_parse_minutes_reads_owner_due_and_ticks_of_action_items_only():
    text = (
        "2026-11-20 周例会\n"
        "- [x] 待办：@张三 完成接口文档 11月25日前\n"
        "☑ TODO: [Li Na] send the spec\n"
        "* [ ] Action: Zhang San — fix login (due 2026-12-01)\n"
        "✅ 决定：李娜：负责验收，截止 11月27日\n"
        "1. 待办：李娜：提交验收报告，截止 11月27日\n"
    )
    items = parse_minutes(text, document="周例会", url=None, day=MEETING)
    assert [(m.kind, m.text, m.owner, m.due, m.done) for m in items] == [
        ("action", "完成接口文档", "张三", NOV_25, True),
        ("action", "send the spec", "Li Na", None, True),
        ("action", "fix login", "Zhang San", date(2026, 12, 1), False),
        # a decision's words are kept whole: only action items have owners and dates
        ("decision", "李娜：负责验收，截止 11月27日", None, None, False),
        ("action", "提交验收报告", "李娜", date(2026, 11, 27), False),
    ]
