"""A risk's sentence in a report is worded from the flag's facts in the report's language; the
flag's English `detail` is read only for a flag stored before flags carried facts."""

from __future__ import annotations

import json
import re
from dataclasses import fields, replace
from pathlib import Path

from stagecast.models import RiskFlag, Snapshot
from stagecast.reports.context import daily_update_context
from stagecast.reports.render import render_report
from stagecast.risks import english_detail
from stagecast.serialize import snapshot_from_dict
from tests.builders import day
from tests.stagecast.reports.scenario import Scenario, scenario

# The report scenario's snapshot as the code before flags carried facts stored it.
STORED = Path(__file__).parents[1] / "stored" / "snapshot-before-risk-facts.json"
FACTS = [f.name for f in fields(RiskFlag)][5:]  # after code, severity, subject, stage, detail
NOT_READ = "THIS DETAIL IS NOT READ"


def first_update(s: Scenario, snapshot: Snapshot, language: str = "zh-CN") -> str:
    """The team's first daily update of `snapshot`: every open flag with its sentence."""
    context = daily_update_context(
        s.project, snapshot, None, audience="internal", language=language, calendar=s.calendar
    )
    return render_report("daily_update", context, language=language, audience="internal").markdown


def stored() -> Snapshot:
    return snapshot_from_dict(json.loads(STORED.read_text(encoding="utf-8")))


def test_every_code_is_worded_from_its_facts_not_from_its_detail() -> None:
    s = scenario("zh-CN")
    # Yesterday's snapshot has the source Drive failed in; today's has every other code.
    snapshots = (s.snapshot, s.since)
    assert {f.code for snap in snapshots for f in snap.risks} == {
        "overdue",
        "blocked",
        "stale",
        "unassigned",
        "stage_late",
        "stage_at_risk",
        "scope_creep",
        "missing_deliverable",
        "source_unavailable",
    }
    today, yesterday = (
        first_update(s, replace(snap, risks=tuple(replace(f, detail=NOT_READ) for f in snap.risks)))
        for snap in snapshots
    )
    assert NOT_READ not in today and NOT_READ not in yesterday
    assert "本次读取失败：HTTP 503 from www.googleapis.com" in yesterday


def test_scope_growth_in_chinese_from_the_baseline_and_growth() -> None:
    s = scenario("zh-CN")
    grown = tuple(
        replace(f, detail=NOT_READ, total=30, baseline=20, growth_pct=50)
        if f.code == "scope_creep"
        else f
        for f in s.snapshot.risks
    )
    markdown = first_update(s, replace(s.snapshot, risks=grown))
    (line,) = [line for line in markdown.splitlines() if "范围扩大" in line]
    assert "任务由最初的 20 项增至 30 项（+50%）" in line
    assert not re.search("[A-Za-z]", line), line


def test_an_overdue_task_in_chinese_from_the_flag_not_the_task() -> None:
    s = scenario("zh-CN")
    later = tuple(
        replace(f, detail=NOT_READ, due=day("2026-11-17"), days=3) if f.code == "overdue" else f
        for f in s.snapshot.risks
    )
    markdown = first_update(s, replace(s.snapshot, risks=later))
    assert "应于 11月17日 完成，已逾期 3 天" in markdown


def test_a_stored_snapshot_without_facts_loads_with_its_english_details() -> None:
    old = stored()
    assert len(old.risks) == 8
    assert all(getattr(f, fact) is None for f in old.risks for fact in FACTS)
    assert all(english_detail(f) == f.detail != "" for f in old.risks)


def test_a_report_from_a_stored_snapshot_without_facts_falls_back_to_the_english_detail() -> None:
    s = scenario("zh-CN")
    markdown = first_update(s, stored())
    assert "due 2026-11-18, 2 days ago" in markdown
    assert "11 tasks against a baseline of 9 (+22%)" in markdown
    assert "forecast 2026-12-16 is after the due date 2026-12-04" in markdown
    # Without its document the deliverable is named by its subject, stage and document.
    assert "设计评审/UI 设计稿" in markdown
    # ... while the flags of a fresh snapshot are worded in Chinese.
    fresh = first_update(s, s.snapshot)
    assert "任务由最初的 9 项增至 11 项（+22%）" in fresh and "baseline" not in fresh
