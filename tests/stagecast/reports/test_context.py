"""What the daily update says, for whom (SPEC §7): the decisions made before any template."""

from __future__ import annotations

from dataclasses import replace

import pytest

from stagecast.models import Document, MinuteItem
from stagecast.reports.context import (
    Bar,
    DailyUpdate,
    Listing,
    RiskLine,
    TaskLine,
    daily_update_context,
    is_internal,
)
from stagecast.reports.escape import SOURCE_TEXT_LIMIT, SourceText
from tests.builders import at, day, task
from tests.stagecast.reports.scenario import Scenario, scenario


@pytest.fixture(scope="module")
def zh() -> Scenario:
    return scenario("zh-CN")


def context(s: Scenario, audience: str = "client", since: object = "default") -> DailyUpdate:
    return daily_update_context(
        s.project,
        s.snapshot,
        s.since if since == "default" else since,  # type: ignore[arg-type]
        audience=audience,  # type: ignore[arg-type]
        language="zh-CN",
        calendar=s.calendar,
    )


def keys(lines: Listing[TaskLine] | tuple[TaskLine, ...]) -> list[str]:
    return [t.key for t in (lines.items if isinstance(lines, Listing) else lines)]


def idents(risks: tuple[RiskLine, ...]) -> list[tuple[str, str]]:
    return [(r.code, r.subject) for r in risks]


def all_task_lines(c: DailyUpdate) -> list[TaskLine]:
    lines = [*c.changes.done.items, *c.changes.added.items, *c.changes.blocked.items]
    lines += c.due_soon.items
    lines += [r.task for r in c.risks.new + c.risks.ongoing + c.risks.resolved if r.task]
    return lines


def test_header_figures_and_period(zh: Scenario) -> None:
    c = context(zh)
    assert (c.project_key, c.project_name, c.period) == (
        "acme-portal",
        "ACME 客户门户",
        "2026-11-20",
    )
    assert c.as_of == at("2026-11-20 17:30") and c.as_of.utcoffset() is not None
    assert (c.date, c.since_date, c.first_update) == (day("2026-11-20"), day("2026-11-19"), False)
    assert (c.progress.total, c.progress.done) == (21, 12)
    assert c.progress.bar == Bar(filled=5, cells=10, percent=57)


def test_stage_rows(zh: Scenario) -> None:
    rows = context(zh).stages
    assert [(s.name, s.status, s.done, s.total) for s in rows] == [
        ("需求确认", "done", 4, 4),
        ("设计评审", "late", 4, 6),
        ("开发", "at_risk", 4, 11),
    ]
    assert rows[0].completed_on == day("2026-11-05")
    assert rows[1].due == day("2026-11-18") and rows[1].forecast == day("2026-11-27")
    assert [s.bar.filled for s in rows] == [10, 6, 3]
    assert rows[2].remaining == 7


@pytest.mark.parametrize(
    ("done", "total", "filled", "percent"),
    [(0, 0, 0, 0), (0, 5, 0, 0), (1, 3, 3, 33), (2, 3, 6, 66), (199, 200, 9, 99), (7, 7, 10, 100)],
)
def test_bars_round_down_so_only_done_is_full(
    done: int, total: int, filled: int, percent: int
) -> None:
    bar = Bar.of(done, total)
    assert (bar.filled, bar.empty, bar.percent) == (filled, 10 - filled, percent)


def test_changes_since_the_last_update(zh: Scenario) -> None:
    team = context(zh, "internal")
    assert keys(team.changes.done) == ["PORTAL-7", "PORTAL-20", "PORTAL-21"]
    assert keys(team.changes.added) == ["PORTAL-16", "PORTAL-17"]
    assert keys(team.changes.blocked) == ["PORTAL-9"]
    client = context(zh)
    assert keys(client.changes.done) == ["PORTAL-7", "PORTAL-21"]  # PORTAL-20 is 内部


def test_risks_new_ongoing_resolved(zh: Scenario) -> None:
    team = context(zh, "internal").risks
    assert idents(team.new) == [
        ("blocked", "PORTAL-9"),
        ("unassigned", "PORTAL-16"),
        ("scope_creep", "开发"),
    ]
    assert idents(team.ongoing) == [
        ("overdue", "PORTAL-8"),
        ("stage_at_risk", "开发"),
        ("stage_late", "设计评审"),
        ("stale", "PORTAL-13"),
        ("missing_deliverable", "设计评审"),
    ]
    assert idents(team.resolved) == [("blocked", "PORTAL-21"), ("source_unavailable", "gdrive")]
    client = context(zh).risks
    assert idents(client.new) == [("blocked", "PORTAL-9"), ("scope_creep", "开发")]
    assert ("stale", "PORTAL-13") not in idents(client.ongoing)
    assert idents(client.resolved) == [("blocked", "PORTAL-21")]


def test_risk_facts_for_the_sentences(zh: Scenario) -> None:
    risks = {(r.code, r.subject): r for r in context(zh, "internal").risks.open}
    overdue = risks["overdue", "PORTAL-8"]
    assert (overdue.due, overdue.days, overdue.task and overdue.task.title) == (
        day("2026-11-18"),
        2,
        "支付接口联调方案设计",
    )
    assert risks["stale", "PORTAL-13"].days == 15
    late = risks["stage_late", "设计评审"]
    assert (late.due, late.remaining, late.total) == (day("2026-11-18"), 2, 6)
    at_risk = risks["stage_at_risk", "开发"]
    assert (at_risk.forecast, at_risk.due) == (day("2026-12-16"), day("2026-12-04"))
    creep = risks["scope_creep", "开发"]
    assert (creep.total, creep.baseline, creep.growth_pct) == (11, 9, 22)
    missing = risks["missing_deliverable", "设计评审"]
    assert (missing.document, missing.stage, missing.severity) == (
        "UI 设计稿",
        "设计评审",
        "medium",
    )
    resolved = {(r.code, r.subject): r for r in context(zh, "internal").risks.resolved}
    assert resolved["source_unavailable", "gdrive"].error == "HTTP 503 from www.googleapis.com"


def test_client_sees_no_internal_flag_task_or_name(zh: Scenario) -> None:
    c = context(zh)
    codes = {r.code for r in c.risks.new + c.risks.ongoing + c.risks.resolved}
    assert codes.isdisjoint({"stale", "unassigned", "source_unavailable"})
    lines = all_task_lines(c)
    assert lines and all(t.assignee is None for t in lines)
    internal_keys = {t.key for t in zh.snapshot.tasks if is_internal(t)}
    assert internal_keys == {"PORTAL-14", "PORTAL-20"}
    assert internal_keys.isdisjoint(t.key for t in lines)
    assert not c.show_assignees and not c.show_task_links
    # ... and they still count in the figures.
    assert c.progress == context(zh, "internal").progress
    assert c.stages == context(zh, "internal").stages


def test_internal_sees_everything(zh: Scenario) -> None:
    c = context(zh, "internal")
    lines = all_task_lines(c)
    assert {"PORTAL-14", "PORTAL-20"} <= {t.key for t in lines}
    assert {t.assignee for t in lines} >= {"王磊", "赵强", None}
    assert c.show_assignees and c.show_task_links


@pytest.mark.parametrize("label", ["internal", "Internal", " INTERNAL ", "内部"])
def test_internal_labels_match_whole_and_any_case(label: str) -> None:
    assert is_internal(task("P-1", labels=("x", label)))


@pytest.mark.parametrize("label", ["internals", "内部评审", "external"])
def test_other_labels_are_not_internal(label: str) -> None:
    assert not is_internal(task("P-1", labels=(label,)))


def test_a_risk_about_an_internal_task_is_left_out_for_clients(zh: Scenario) -> None:
    snapshot = replace(
        zh.snapshot,
        tasks=tuple(
            replace(t, labels=("Internal",)) if t.key == "PORTAL-8" else t
            for t in zh.snapshot.tasks
        ),
    )
    c = daily_update_context(
        zh.project, snapshot, zh.since, audience="client", language="en", calendar=zh.calendar
    )
    assert ("overdue", "PORTAL-8") not in idents(c.risks.ongoing)
    assert ("stage_late", "设计评审") in idents(c.risks.ongoing)


def test_due_soon_is_today_to_the_next_working_days(zh: Scenario) -> None:
    # Friday the 20th with 3 working days: Mon 23, Tue 24, Wed 25; not Thu 26.
    assert context(zh).due_soon_until == day("2026-11-25")
    extra = (
        task("X-1", due="2026-11-25", source="jira", title="周三到期"),
        task("X-2", due="2026-11-26", source="jira", title="周四到期"),
        task("X-3", "done", due="2026-11-23", source="jira", done="2026-11-20"),
        task("X-4", due="2026-11-19", source="jira", title="已逾期"),
    )
    snapshot = replace(zh.snapshot, tasks=zh.snapshot.tasks + extra)
    c = daily_update_context(
        zh.project, snapshot, zh.since, audience="internal", language="zh-CN", calendar=zh.calendar
    )
    assert keys(c.due_soon) == ["PORTAL-15", "PORTAL-16", "PORTAL-14", "X-1"]
    assert [t.due for t in c.due_soon.items] == [
        day("2026-11-20"),
        day("2026-11-23"),
        day("2026-11-24"),
        day("2026-11-25"),
    ]


def test_due_soon_skips_holidays() -> None:
    s = scenario("zh-CN")
    # 2026-12-31 is a Thursday; 1 January is a public holiday in China.
    moved = replace(
        s.snapshot, as_of=at("2026-12-31 17:30"), tasks=(task("Y-1", due="2027-01-05"),)
    )
    c = daily_update_context(
        s.project, moved, None, audience="client", language="zh-CN", calendar=s.calendar
    )
    assert c.due_soon_until == day("2027-01-06")
    assert keys(c.due_soon) == ["Y-1"]


def test_documents_updated_since_the_last_update_newest_first(zh: Scenario) -> None:
    docs = context(zh).documents.items
    assert [d.name for d in docs] == ["积分商城交互稿 v3.pdf", "需求规格说明书 v2.docx"]
    assert docs[0].modified == at("2026-11-20 15:40")
    assert docs[0].url == "https://drive.google.com/file/d/d2"


def test_decisions_not_reported_before(zh: Scenario) -> None:
    assert [d.text for d in context(zh).decisions] == [
        "支付采用方案 B：统一走集团支付网关，11月27日前完成联调"
    ]
    late_filed = MinuteItem("decision", "晚归档的决定", "纪要 11-19", None, day("2026-11-19"))
    again = replace(zh.snapshot, minutes=(*zh.snapshot.minutes, late_filed))
    c = daily_update_context(
        zh.project, again, zh.since, audience="client", language="zh-CN", calendar=zh.calendar
    )
    assert "晚归档的决定" in [d.text for d in c.decisions]


def test_first_update_has_no_changes_and_all_risks_are_open(zh: Scenario) -> None:
    c = context(zh, "internal", since=None)
    assert c.first_update and c.since_date is None and c.since_as_of is None
    assert not c.changes and not c.risks.new and not c.risks.resolved
    assert len(c.risks.ongoing) == len(zh.snapshot.risks)
    assert len(c.documents.items) == 3
    assert [d.date for d in c.decisions] == [day("2026-11-12"), day("2026-11-20")]


def test_long_lists_keep_the_first_items_and_count_the_rest() -> None:
    listing = Listing.of(range(20), limit=15)
    assert (len(listing.items), listing.more, listing.count) == (15, 5, 20)
    assert not Listing.of([])


def test_source_text_is_made_single_line_and_links_checked(zh: Scenario) -> None:
    hostile = replace(
        zh.snapshot,
        tasks=(
            task(
                "Z-1",
                title="第一行\n## 第二行\x00",
                url="javascript:alert(1)",
                due="2026-11-20",
                assignee="张\n三",
            ),
        ),
        documents=(Document("d", "文档\r\n名", "gdrive", "data:x", modified=at("2026-11-20")),),
    )
    c = daily_update_context(
        zh.project, hostile, None, audience="internal", language="zh-CN", calendar=zh.calendar
    )
    line = c.due_soon.items[0]
    assert (line.title, line.url, line.assignee) == ("第一行 ## 第二行", None, "张 三")
    assert (c.documents.items[0].name, c.documents.items[0].url) == ("文档 名", None)


def test_source_text_is_marked_and_bounded_whatever_its_length(zh: Scenario) -> None:
    """The renderer cuts source text per format by its type; the context bounds it for all."""
    long = "很长的标题" * 20_000
    flooded = replace(
        zh.snapshot,
        tasks=(task("Z-1", title=long, due="2026-11-20", assignee=long, status=long),),
        documents=(Document("d", long, "gdrive", None, modified=at("2026-11-20")),),
    )
    c = daily_update_context(
        zh.project, flooded, None, audience="internal", language="zh-CN", calendar=zh.calendar
    )
    line = c.due_soon.items[0]
    for text in (line.key, line.title, line.assignee, line.status, c.documents.items[0].name):
        assert isinstance(text, SourceText) and len(text) <= SOURCE_TEXT_LIMIT
    assert line.title == long[: SOURCE_TEXT_LIMIT - 1] + "…"
    assert not isinstance(c.project_name, SourceText)  # the team's own words: never cut
