"""A realistic project on Friday 2026-11-20 and its state a day earlier, computed by the real
rules (`evaluate`), in Chinese or English wording.

Three stages: requirements done, design late (an overdue and a newly blocked task, a missing
deliverable), build at risk (a stale task, an unassigned one due soon, an internal task, scope
growth). Since the day before: two tasks done (one internal), two added, one newly blocked, a
blocked task finished, and the Drive source back after failing.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Any

from stagecast.burnup import burnup
from stagecast.calendar import WorkCalendar
from stagecast.config import ProjectConfig
from stagecast.evaluate import SourceOutcome, calendar_for, evaluate
from stagecast.models import Document, MinuteItem, Snapshot, SourcePull, Task
from stagecast.reports.chart import Chart, draw_png
from tests.builders import at, day, task

AS_OF = at("2026-11-20 17:30")
SINCE = at("2026-11-19 17:30")
EARLIER = at("2026-11-18 17:30")

WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "project": "ACME 客户门户",
        "req": "需求确认",
        "design": "设计评审",
        "build": "开发",
        "spec_doc": "需求规格说明书",
        "ui_doc": "UI 设计稿",
        "internal": "内部",
        "P-1": "梳理现有会员体系与积分规则",
        "P-2": "确认单点登录（SSO）对接方式",
        "P-3": "需求规格说明书评审",
        "P-4": "确认报表导出字段",
        "P-5": "首页与个人中心 UI 设计",
        "P-6": "积分商城交互稿",
        "P-7": "登录页交互稿评审",
        "P-8": "支付接口联调方案设计",
        "P-9": "第三方短信网关对接设计",
        "P-10": "数据库表结构设计",
        "P-11": "搭建前端工程脚手架",
        "P-12": "会员登录接口开发",
        "P-13": "个人中心页面开发",
        "P-14": "代码评审环境搭建",
        "P-15": "积分查询接口开发",
        "P-16": "订单导出功能",
        "P-17": "消息通知中心开发",
        "P-18": "积分商城页面开发",
        "P-19": "后台管理权限配置",
        "P-20": "性能压测脚本",
        "P-21": "短信签名与模板报备",
        "wang": "王磊",
        "li": "李娜",
        "zhao": "赵强",
        "chen": "陈晨",
        "blocked": "阻塞",
        "doing": "进行中",
        "doc_spec": "需求规格说明书 v2.docx",
        "doc_mall": "积分商城交互稿 v3.pdf",
        "doc_api": "接口文档草稿",
        "minutes": "周例会纪要 2026-11-20",
        "minutes_old": "周例会纪要 2026-11-12",
        "decision": "支付采用方案 B：统一走集团支付网关，11月27日前完成联调",
        "decision_old": "登录方式沿用企业微信扫码",
        "action": "提交支付联调方案",
        "action_old": "确认短信服务商测试账号",
        "action_done": "整理需求变更清单",
    },
    "en": {
        "project": "ACME Customer Portal",
        "req": "Requirements",
        "design": "Design review",
        "build": "Build",
        "spec_doc": "Requirements specification",
        "ui_doc": "UI mock-ups",
        "internal": "internal",
        "P-1": "Map the current membership and points rules",
        "P-2": "Agree the single sign-on (SSO) integration",
        "P-3": "Review the requirements specification",
        "P-4": "Confirm the report export fields",
        "P-5": "UI design: home page and profile",
        "P-6": "Points mall wireframes",
        "P-7": "Review the login page wireframes",
        "P-8": "Design the payment API integration",
        "P-9": "Design the SMS gateway integration",
        "P-10": "Database schema design",
        "P-11": "Set up the front-end project",
        "P-12": "Member login API",
        "P-13": "Profile pages",
        "P-14": "Set up the code review environment",
        "P-15": "Points balance API",
        "P-16": "Order export",
        "P-17": "Notification centre",
        "P-18": "Points mall pages",
        "P-19": "Admin permissions",
        "P-20": "Load test scripts",
        "P-21": "Register the SMS sender name and templates",
        "wang": "Wang Lei",
        "li": "Li Na",
        "zhao": "Zhao Qiang",
        "chen": "Chen Chen",
        "blocked": "Blocked",
        "doing": "In Progress",
        "doc_spec": "Requirements specification v2.docx",
        "doc_mall": "Points mall wireframes v3.pdf",
        "doc_api": "API document draft",
        "minutes": "Weekly meeting 2026-11-20",
        "minutes_old": "Weekly meeting 2026-11-12",
        "decision": "Payments use option B: all through the group payment gateway, "
        "integrated by 27 November",
        "decision_old": "Keep WeCom QR-code login",
        "action": "Send the payment integration plan",
        "action_old": "Confirm the SMS vendor's test account",
        "action_done": "List the requirement changes",
    },
}

DRIVE = "https://drive.google.com/file/d/"
JIRA = "https://acme.atlassian.net/browse/"


def project_config(language: str = "zh-CN") -> ProjectConfig:
    w = WORDS[language]
    return ProjectConfig.model_validate(
        {
            "key": "acme-portal",
            "name": w["project"],
            "language": language,
            "timezone": "Asia/Shanghai",
            "calendar": {"country": "CN"},
            "sources": [
                {
                    "type": "jira",
                    "url": "https://acme.atlassian.net",
                    "token": "env:JIRA_TOKEN",
                    "jql": "project = PORTAL",
                },
                {"type": "gdrive", "folder": "1AbCdEf", "credentials": "env:GDRIVE_CREDENTIALS"},
            ],
            "stages": [
                {
                    "name": w["req"],
                    "key": "requirements",
                    "match": "v1.0-req",
                    "due": "2026-11-06",
                    "required_docs": [w["spec_doc"]],
                },
                {
                    "name": w["design"],
                    "key": "design",
                    "match": "v1.0-design",
                    "due": "2026-11-18",
                    "required_docs": [w["ui_doc"]],
                },
                {"name": w["build"], "key": "build", "match": "v1.0-build", "due": "2026-12-04"},
            ],
        }
    )


def _t(w: dict[str, str], n: int, stage: str, state: str = "todo", **fields: Any) -> Task:
    key = f"PORTAL-{n}"
    for person in ("wang", "li", "zhao", "chen"):
        if fields.get("assignee") == person:
            fields["assignee"] = w[person]
    if fields.pop("internal", False):
        fields["labels"] = (w["internal"],)
    return task(
        key,
        state,
        title=w[f"P-{n}"],
        source="jira",
        url=JIRA + key,
        stage_value=stage,
        created=at("2026-10-20 10:00"),
        **fields,
    )


def tasks(language: str, *, today: bool) -> list[Task]:
    """The project's tasks on the 20th (`today`) or the 19th."""
    w = WORDS[language]
    req, design, build = "v1.0-req", "v1.0-design", "v1.0-build"
    blocked = {"status": w["blocked"], "blocked": True}
    found = [
        _t(w, 1, req, "done", done="2026-10-28", assignee="wang"),
        _t(w, 2, req, "done", done="2026-10-30", assignee="wang"),
        _t(w, 3, req, "done", done="2026-11-04", assignee="li"),
        _t(w, 4, req, "done", done="2026-11-05", assignee="wang"),
        _t(w, 5, design, "done", done="2026-11-12", assignee="li"),
        _t(w, 6, design, "done", done="2026-11-16", assignee="li"),
        _t(w, 7, design, "done", done="2026-11-20 10:00", assignee="li")
        if today
        else _t(w, 7, design, "in_progress", assignee="li", updated="2026-11-19 09:00"),
        _t(w, 8, design, "in_progress", due="2026-11-18", assignee="zhao", updated="2026-11-19"),
        _t(w, 9, design, "in_progress", assignee="zhao", updated="2026-11-20 11:00", **blocked)
        if today
        else _t(w, 9, design, "in_progress", assignee="zhao", status=w["doing"]),
        _t(w, 10, design, "done", done="2026-11-17", assignee="zhao"),
        _t(w, 11, build, "done", done="2026-11-13", assignee="chen"),
        _t(w, 12, build, "done", done="2026-11-19 12:00", assignee="chen"),
        _t(w, 13, build, "in_progress", assignee="chen", updated="2026-11-05 16:00"),
        _t(w, 14, build, "in_progress", due="2026-11-24", assignee="wang", internal=True),
        _t(w, 15, build, due="2026-11-20", assignee="chen"),
        _t(w, 18, build, assignee="chen"),
        _t(w, 19, build, assignee="zhao"),
        _t(w, 20, build, "done", done="2026-11-20 14:00", assignee="wang", internal=True)
        if today
        else _t(w, 20, build, assignee="wang", internal=True),
        _t(w, 21, build, "done", done="2026-11-20 11:00", assignee="zhao")
        if today
        else _t(w, 21, build, "in_progress", assignee="zhao", **blocked),
    ]
    if today:
        found += [
            _t(w, 16, build, due="2026-11-23"),
            _t(w, 17, build, due="2026-12-01", assignee="zhao"),
        ]
    return found


def _action(
    w: dict[str, str], text: str, minutes: str, url: str, owner: str, *, due: str = "",
    done: bool = False,
) -> MinuteItem:  # fmt: skip
    """An action item as the Drive source reads it from minutes dated in their title."""
    on = day(w[minutes][-10:])
    return MinuteItem(
        "action", w[text], w[minutes], DRIVE + url, on, "gdrive",
        owner=w[owner], due=day(due) if due else None, done=done,
    )  # fmt: skip


def drive(language: str, *, today: bool = True) -> SourcePull:
    """The Drive folder and minutes on the 20th, or on the 18th (`today=False`)."""
    w = WORDS[language]
    old_decision = MinuteItem(
        "decision", w["decision_old"], w["minutes_old"], DRIVE + "m1", day("2026-11-12"), "gdrive"
    )
    # The 12th's minutes: one action item overdue now, one ticked off.
    old_actions = (
        _action(w, "action_old", "minutes_old", "m1", "li", due="2026-11-18"),
        _action(w, "action_done", "minutes_old", "m1", "wang", done=True),
    )
    if not today:
        return SourcePull(
            documents=(
                Document("d1", w["doc_spec"], "gdrive", DRIVE + "d1", modified=at("2026-11-04")),
                Document("d3", w["doc_api"], "gdrive", DRIVE + "d3", modified=at("2026-11-18")),
            ),
            minutes=(old_decision, *old_actions),
        )
    return SourcePull(
        documents=(
            Document("d1", w["doc_spec"], "gdrive", DRIVE + "d1", modified=at("2026-11-20 10:15")),
            Document("d2", w["doc_mall"], "gdrive", DRIVE + "d2", modified=at("2026-11-20 15:40")),
            Document("d3", w["doc_api"], "gdrive", DRIVE + "d3", modified=at("2026-11-18 09:00")),
        ),
        minutes=(
            MinuteItem(
                "decision", w["decision"], w["minutes"], DRIVE + "m2", day("2026-11-20"), "gdrive"
            ),
            _action(w, "action", "minutes", "m2", "zhao", due="2026-11-27"),
            old_decision,
            *old_actions,
        ),
    )


@dataclass(frozen=True)
class Scenario:
    project: ProjectConfig
    snapshot: Snapshot
    since: Snapshot
    calendar: WorkCalendar


def scenario(language: str = "zh-CN") -> Scenario:
    """Today's snapshot and yesterday's (when Drive failed), as the sync computes them."""
    project = project_config(language)
    baselines = {"requirements": 4, "design": 6, "build": 9}
    before_yesterday = evaluate(
        project,
        EARLIER,
        [
            SourceOutcome("jira", "jira", SourcePull(tasks(language, today=False)), None, EARLIER),
            SourceOutcome("gdrive", "gdrive", drive(language, today=False), None, EARLIER),
        ],
        None,
        baselines,
    )
    yesterday = evaluate(
        project,
        SINCE,
        [
            SourceOutcome("jira", "jira", SourcePull(tasks(language, today=False)), None, SINCE),
            SourceOutcome("gdrive", "gdrive", None, "HTTP 503 from www.googleapis.com", EARLIER),
        ],
        before_yesterday,
        baselines,
    )
    today = evaluate(
        project,
        AS_OF,
        [
            SourceOutcome("jira", "jira", SourcePull(tasks(language, today=True)), None, AS_OF),
            SourceOutcome("gdrive", "gdrive", drive(language), None, AS_OF),
        ],
        yesterday,
        baselines,
    )
    return Scenario(project, today, yesterday, calendar_for(project))


# --- stage reports, alerts and the charter --------------------------------------------------

PROBLEM_WORDS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "type": "问题",
        "resolution": "已修复",
        "comment": "索引已补上，查询恢复到 200ms 以内",
        "purpose": "ACME 客户门户项目的日常沟通与进度同步",
        "scope": "会员、积分商城与订单模块的设计与开发；不含支付网关本身",
        "response": "工作时间内 2 小时内回复，紧急问题 30 分钟内",
        "pm": "王磊",
        "pm_role": "项目经理",
        "client": "刘洋",
        "client_role": "客户方负责人",
    },
    "en": {
        "type": "Bug",
        "resolution": "Fixed",
        "comment": "Index added; queries back under 200ms",
        "purpose": "Day-to-day contact and progress for the ACME Customer Portal",
        "scope": "Design and build of membership, points mall and orders; not the payment gateway",
        "response": "Within 2 hours in working hours; 30 minutes for urgent issues",
        "pm": "Wang Lei",
        "pm_role": "Project manager",
        "client": "Liu Yang",
        "client_role": "Client lead",
    },
}


def stage_scenario(language: str = "zh-CN") -> tuple[Scenario, list[Snapshot]]:
    """The scenario with one design task a fixed problem (type, resolution, last comment), and
    the history a stage report reads: yesterday's snapshot."""
    s = scenario(language)
    w = PROBLEM_WORDS[language]
    fixed = tuple(
        dataclasses.replace(
            t, type=w["type"], resolution=w["resolution"], last_comment=w["comment"]
        )
        if t.key == "PORTAL-10"
        else t
        for t in s.snapshot.tasks
    )
    return dataclasses.replace(s, snapshot=dataclasses.replace(s.snapshot, tasks=fixed)), [s.since]


def charter_project(language: str = "zh-CN", cron: str = "30 17 * * mon-fri") -> ProjectConfig:
    """The scenario's project with a charter, channels and a report schedule."""
    w = PROBLEM_WORDS[language]
    data = project_config(language).model_dump(mode="json", by_alias=True, exclude_none=True)
    data["charter"] = {
        "purpose": w["purpose"],
        "scope": w["scope"],
        "response_time": w["response"],
        "contacts": [
            {"name": w["pm"], "role": w["pm_role"], "reach": "wanglei@example.com"},
            {"name": w["client"], "role": w["client_role"], "reach": "+86 138 0000 0000"},
        ],
    }
    data["channels"] = [{"type": "file", "name": "outbox", "audience": "client"}]
    data["reports"] = {
        "daily_update": {"channels": ["outbox"], "cron": cron},
        "stage_report": {"channels": ["outbox"]},
        "risk_alert": {"channels": ["outbox"], "min_severity": "high"},
        "charter": {"channels": ["outbox"]},
    }
    return ProjectConfig.model_validate(data)


# --- the burn-up chart ----------------------------------------------------------------------

# Drawn once per series for the whole test run: the goldens show every audience and language.
_draw = functools.cache(draw_png)


def scenario_chart(s: Scenario) -> Chart:
    """The burn-up chart a report of the scenario gets: yesterday and today, every stage."""
    series = burnup((s.since, s.snapshot), s.project.tz)
    assert series is not None
    return Chart(series, _draw)
