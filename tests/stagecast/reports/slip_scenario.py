"""Two weeks of a stage that slipped, one snapshot per working day, computed by the real rules
(`evaluate`), in Chinese or English wording: what a stage report of a late stage explains.

The scenario's project (requirements done 5 Nov; design due Wed 18 Nov; build), synced every
working day at 17:30 from Mon 9 Nov to Mon 23 Nov, when design completes, 3 working days late.
What happened to design in between:

- PORTAL-7 sat untouched since 2 Nov (stale from the first sync); reassigned to Wang Lei on
  the 12th; finished on the 20th.
- PORTAL-9 was blocked from the 11th (the SMS vendor's test account) until the 16th, and was
  the last task done, on the 23rd.
- PORTAL-22 joined on the 11th, unassigned and due on the 18th (flagged on the 16th), got an
  owner on the 17th and was done on time.
- PORTAL-23, an internal dry run, joined on the 17th, was blocked on the 18th and 19th, and
  done on the 20th: scope grew from 6 tasks to 8.
- PORTAL-8, due on the 18th, was overdue on the 19th and done on the 20th.
- The UI mock-ups were missing from the 16th until they were shared on the 19th.
- The minutes of the 12th and the 19th hold action items: one ticked off, one overdue, one open.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from stagecast.evaluate import SourceOutcome, calendar_for, evaluate
from stagecast.models import Document, MinuteItem, Snapshot, SourcePull, Task
from tests.builders import at, day, task
from tests.stagecast.reports.scenario import (
    DRIVE,
    JIRA,
    PROBLEM_WORDS,
    WORDS,
    Scenario,
    project_config,
)

FIRST = day("2026-11-09")
COMPLETED = day("2026-11-23")

EXTRA: dict[str, dict[str, str]] = {
    "zh-CN": {
        "P-22": "会员等级页面设计",
        "P-23": "设计评审内部预演",
        "ui_file": "UI 设计稿 v1.pdf",
        "minutes_12": "周例会纪要 2026-11-12",
        "minutes_19": "周例会纪要 2026-11-19",
        "decision": "登录方式沿用企业微信扫码",
        "action_sms": "确认短信服务商测试账号",
        "action_changes": "整理需求变更清单",
        "action_criteria": "补充会员等级页面的验收标准",
        "vendor": "短信服务商已开通测试账号，对接设计已完成",
    },
    "en": {
        "P-22": "Member tier page design",
        "P-23": "Internal dry run of the design review",
        "ui_file": "UI mock-ups v1.pdf",
        "minutes_12": "Weekly meeting 2026-11-12",
        "minutes_19": "Weekly meeting 2026-11-19",
        "decision": "Keep WeCom QR-code login",
        "action_sms": "Confirm the SMS vendor's test account",
        "action_changes": "List the requirement changes",
        "action_criteria": "Write the acceptance criteria of the member tier page",
        "vendor": "The SMS vendor opened our test account; integration design done",
    },
}


def working_days() -> list[date]:
    """The sync days: every weekday from the first sync to the completion."""
    days, current = [], FIRST
    while current <= COMPLETED:
        if current.weekday() < 5:
            days.append(current)
        current += timedelta(days=1)
    return days


def _when(on: date, text: str) -> bool:
    return on >= day(text)


def _t(w: dict[str, str], n: int, stage: str, state: str = "todo", **fields: Any) -> Task:
    """PORTAL-n with its title and people in the language of `w`."""
    key = f"PORTAL-{n}"
    if "assignee" in fields:
        fields["assignee"] = w[fields["assignee"]]
    if fields.pop("internal", False):
        fields["labels"] = (w["internal"],)
    created = (
        at("2026-10-20 10:00")
        if n < 22
        else at({22: "2026-11-11 10:00"}.get(n, "2026-11-17 10:00"))
    )
    return task(key, state, title=w[f"P-{n}"], source="jira", url=JIRA + key,
                stage_value=stage, created=created, **fields)  # fmt: skip


def tasks(language: str, on: date) -> list[Task]:
    """The project's tasks as the tracker shows them at 17:30 on `on`."""
    w = {**WORDS[language], **EXTRA[language]}
    req, design, build = "v1.0-req", "v1.0-design", "v1.0-build"
    doing: dict[str, Any] = {"status": w["doing"]}
    blocked: dict[str, Any] = {"status": w["blocked"], "blocked": True}
    problem = PROBLEM_WORDS[language]
    found = [
        _t(w, 1, req, "done", done="2026-10-28", assignee="wang"),
        _t(w, 2, req, "done", done="2026-10-30", assignee="wang"),
        _t(w, 3, req, "done", done="2026-11-04", assignee="li"),
        _t(w, 4, req, "done", done="2026-11-05", assignee="wang"),
        _t(w, 5, design, "done", done="2026-11-06", assignee="li"),
        _t(w, 6, design, "done", done="2026-11-16 15:00", assignee="li")
        if _when(on, "2026-11-16")
        else _t(w, 6, design, "in_progress", assignee="li", updated=f"{on} 10:00", **doing),
    ]
    if _when(on, "2026-11-20"):
        found.append(_t(w, 7, design, "done", done="2026-11-20 10:00", assignee="wang"))
    elif _when(on, "2026-11-12"):
        found.append(_t(w, 7, design, "in_progress", assignee="wang", updated="2026-11-12 11:00"))
    else:
        found.append(_t(w, 7, design, "in_progress", assignee="li", updated="2026-11-02 09:00"))
    found.append(
        _t(w, 8, design, "done", done="2026-11-20 16:00", due="2026-11-18", assignee="zhao")
        if _when(on, "2026-11-20")
        else _t(w, 8, design, "in_progress", due="2026-11-18", assignee="zhao", updated=f"{on}")
    )
    if _when(on, "2026-11-23"):
        nine = _t(w, 9, design, "done", done="2026-11-23 11:00", assignee="zhao")
        found.append(replace(nine, last_comment=w["vendor"]))
    elif _when(on, "2026-11-11") and not _when(on, "2026-11-16"):
        found.append(_t(w, 9, design, "in_progress", assignee="zhao", updated=f"{on}", **blocked))
    else:
        found.append(_t(w, 9, design, "in_progress", assignee="zhao", updated=f"{on}", **doing))
    ten = (
        _t(w, 10, design, "done", done="2026-11-17 14:00", assignee="zhao")
        if _when(on, "2026-11-17")
        else _t(w, 10, design, "in_progress", assignee="zhao", updated=f"{on}", **doing)
    )
    fixed = problem["resolution"] if ten.state == "done" else None
    found.append(
        replace(ten, type=problem["type"], last_comment=problem["comment"], resolution=fixed)
    )
    if _when(on, "2026-11-18"):
        found.append(_t(w, 22, design, "done", done="2026-11-18 12:00", assignee="chen"))
    elif _when(on, "2026-11-17"):
        found.append(_t(w, 22, design, due="2026-11-18", assignee="chen"))
    elif _when(on, "2026-11-11"):
        found.append(_t(w, 22, design, due="2026-11-18"))
    if _when(on, "2026-11-20"):
        found.append(
            _t(w, 23, design, "done", done="2026-11-20 09:00", assignee="wang", internal=True)
        )
    elif _when(on, "2026-11-18"):
        found.append(_t(w, 23, design, "in_progress", assignee="wang", internal=True, **blocked))
    elif _when(on, "2026-11-17"):
        found.append(_t(w, 23, design, assignee="wang", internal=True))
    found += [
        _t(w, 11, build, "done", done="2026-11-13", assignee="chen"),
        _t(w, 12, build, "in_progress", assignee="chen", updated=f"{on}", **doing),
        _t(w, 13, build, assignee="chen"),
    ]
    return found


def drive(language: str, on: date) -> SourcePull:
    """The shared folder and the minutes filed by `on`."""
    w = {**WORDS[language], **EXTRA[language]}
    documents = [Document("d1", w["doc_spec"], "gdrive", DRIVE + "d1", modified=at("2026-11-04"))]
    minutes: list[MinuteItem] = []
    if _when(on, "2026-11-12"):
        m12 = (w["minutes_12"], DRIVE + "m12", day("2026-11-12"), "gdrive")
        minutes += [
            MinuteItem("decision", w["decision"], *m12),
            MinuteItem("action", w["action_sms"], *m12, owner=w["zhao"], due=day("2026-11-16")),
            MinuteItem("action", w["action_changes"], *m12, owner=w["wang"], done=True),
        ]
    if _when(on, "2026-11-19"):
        documents.append(
            Document("d4", w["ui_file"], "gdrive", DRIVE + "d4", modified=at("2026-11-19 15:00"))
        )
        m19 = (w["minutes_19"], DRIVE + "m19", day("2026-11-19"), "gdrive")
        minutes.append(
            MinuteItem("action", w["action_criteria"], *m19, owner=w["li"], due=day("2026-11-25"))
        )
    return SourcePull(documents=tuple(documents), minutes=tuple(minutes))


def slip_scenario(language: str = "zh-CN") -> tuple[Scenario, list[Snapshot]]:
    """The snapshot of the 23rd (design just completed) and every earlier one, oldest first."""
    project = project_config(language)
    baselines: dict[str, int] = {}
    snapshots: list[Snapshot] = []
    previous: Snapshot | None = None
    for on in working_days():
        as_of = at(f"{on} 17:30")
        outcomes = [
            SourceOutcome("jira", "jira", SourcePull(tuple(tasks(language, on))), None, as_of),
            SourceOutcome("gdrive", "gdrive", drive(language, on), None, as_of),
        ]
        previous = evaluate(project, as_of, outcomes, previous, baselines)
        for stage in previous.stages:  # the store's rule: the first count with any task
            if stage.total:
                baselines.setdefault(stage.key, stage.total)
        snapshots.append(previous)
    today = snapshots[-1]
    return Scenario(project, today, snapshots[-2], calendar_for(project)), snapshots[:-1]
