"""The nine risk flags (SPEC §5) at their boundaries, and report order."""

from __future__ import annotations

from dataclasses import asdict

from stagecast.models import Document, RiskFlag, StagePlan, StageProgress
from stagecast.risks import RiskInputs, RiskRules, english_detail, raise_flags, sort_risks
from tests.builders import at, day, task, weekdays

TODAY = day("2026-11-20")  # Friday


def flags(tasks=(), stages=(), plans=(), documents=(), baselines=None, failed=None, **rules):
    return raise_flags(
        RiskInputs(
            today=TODAY,
            calendar=weekdays(),
            rules=RiskRules(**rules),
            tasks=list(tasks),
            stages=list(stages),
            plans=list(plans),
            documents=list(documents),
            baselines=baselines or {},
            failed_sources=failed or {},
        )
    )


def codes(result):
    return [(f.code, f.subject) for f in result]


def stage(name="Build", status="on_track", total=10, done=5, due=None, key=None, forecast=None):
    return StageProgress(
        name=name,
        key=key or name.lower(),
        due=day(due) if due else None,
        total=total,
        done=done,
        ratio=done / total if total else None,
        done_in_window=0,
        throughput=0.0,
        forecast=day(forecast) if forecast else None,
        status=status,
    )


def test_overdue_from_yesterday_not_today_not_done():
    result = flags(
        [
            task("P-1", due="2026-11-19", assignee="a"),
            task("P-2", due="2026-11-20", assignee="a"),
            task("P-3", "done", due="2026-11-01"),
        ]
    )
    assert codes(result) == [("overdue", "P-1")]
    assert result[0].severity == "high"
    assert result[0].detail == "due 2026-11-19, 1 day ago"


def test_overdue_reads_a_moment_in_local_time():
    # 2026-11-19 16:30 UTC is 2026-11-20 00:30 in Shanghai: due today, not overdue
    assert flags([task("P-1", due=at("2026-11-19T16:30:00+00:00"), assignee="a")]) == []
    assert codes(flags([task("P-1", due=at("2026-11-19T15:30:00+00:00"), assignee="a")])) == [
        ("overdue", "P-1")
    ]


def test_blocked_only_while_not_done():
    result = flags(
        [
            task("P-1", "in_progress", blocked=True, assignee="a", updated="2026-11-20 09:00"),
            task("P-2", "done", blocked=True),
        ]
    )
    assert codes(result) == [("blocked", "P-1")]


def test_stale_strictly_more_than_stale_days_and_only_in_progress():
    result = flags(
        [
            task("P-1", "in_progress", updated="2026-11-12 10:00"),  # 8 days
            task("P-2", "in_progress", updated="2026-11-13 10:00"),  # 7 days: not yet
            task("P-3", "todo", updated="2026-10-01 10:00"),
        ]
    )
    assert codes(result) == [("stale", "P-1")]
    assert result[0].severity == "medium"


def test_stale_uses_local_date_of_updated():
    # 2026-11-12 16:30 UTC is 11-13 00:30 in Shanghai: 7 days, not stale
    assert flags([task("P-1", "in_progress", updated=at("2026-11-12T16:30:00+00:00"))]) == []


def test_unassigned_between_today_and_due_soon():
    result = flags(
        [
            task("P-1", due="2026-11-20"),
            task("P-2", due="2026-11-23"),  # D + 3 calendar days
            task("P-3", due="2026-11-24"),  # too far
            task("P-4", due="2026-11-21", assignee="someone"),
            task("P-5", "done", due="2026-11-21"),
        ]
    )
    assert codes(result) == [("unassigned", "P-1"), ("unassigned", "P-2")]


def test_stage_status_flags_name_the_stage():
    result = flags(
        stages=[
            stage("Design", "late", due="2026-11-18"),
            stage("Build", "at_risk", due="2026-11-25"),
        ]
    )
    assert codes(result) == [("stage_at_risk", "Build"), ("stage_late", "Design")]
    assert all(f.stage == f.subject and f.severity == "high" for f in result)


def test_scope_creep_past_the_baseline_percentage():
    at_limit = stage("Build", total=12)
    past = stage("UAT", total=13, key="uat")
    result = flags(stages=[at_limit, past], baselines={"build": 10, "uat": 10})
    assert codes(result) == [("scope_creep", "UAT")]
    assert result[0].detail == "13 tasks against a baseline of 10 (+30%)"


def test_scope_creep_needs_a_baseline():
    assert flags(stages=[stage(total=50)]) == []  # first snapshot: its own count is the baseline
    assert codes(flags(stages=[stage(total=11)], baselines={"build": 10}, scope_creep_pct=0)) == [
        ("scope_creep", "Build")
    ]


def test_missing_deliverable_for_done_and_nearly_due_stages():
    plans = [
        StagePlan("需求", "req", "需求", day("2026-11-01"), ("需求规格说明书",)),
        StagePlan("Design", "design", "Design", day("2026-11-23"), ("Design Doc",)),
        StagePlan("Build", "build", "Build", day("2026-11-24"), ("Build Notes",)),
        StagePlan("UAT", "uat", "UAT", day("2026-11-22"), ("UAT Plan",)),
    ]
    stages = [
        stage("需求", "done", 3, 3, "2026-11-01", "req"),
        stage("Design", "at_risk", 3, 1, "2026-11-23", "design"),
        stage("Build", "on_track", 3, 1, "2026-11-24", "build"),
        stage("UAT", "on_track", 0, 0, "2026-11-22", "uat"),
    ]
    docs = [Document("1", "UAT plan v2.docx", "drive")]
    result = [
        f
        for f in flags(stages=stages, plans=plans, documents=docs)
        if f.code == "missing_deliverable"
    ]
    assert [(f.subject, f.severity) for f in result] == [
        ("需求/需求规格说明书", "high"),
        ("Design/Design Doc", "medium"),
    ]


def test_source_unavailable():
    result = flags(failed={"jira": "HTTP 503"})
    assert codes(result) == [("source_unavailable", "jira")]
    assert result[0].stage is None and result[0].severity == "high"


def test_report_order_high_first_then_natural_subject_then_code():
    unordered = [
        RiskFlag("stale", "medium", "PORTAL-2", None, ""),
        RiskFlag("overdue", "high", "PORTAL-12", None, ""),
        RiskFlag("overdue", "high", "PORTAL-9", None, ""),
        RiskFlag("blocked", "high", "PORTAL-12", None, ""),
    ]
    assert codes(sort_risks(unordered)) == [
        ("overdue", "PORTAL-9"),
        ("blocked", "PORTAL-12"),
        ("overdue", "PORTAL-12"),
        ("stale", "PORTAL-2"),
    ]


def test_a_task_can_raise_several_flags():
    t = task("P-7", "in_progress", due="2026-11-10", blocked=True, updated="2026-11-01 10:00")
    assert codes(flags([t])) == [("blocked", "P-7"), ("overdue", "P-7"), ("stale", "P-7")]


IDENTITY = {"code", "severity", "subject", "stage", "detail"}


def facts(flag):
    """The facts a flag carries: every field but its identity and its sentence, when set."""
    return {k: v for k, v in asdict(flag).items() if k not in IDENTITY and v is not None}


def by_code(result):
    return {f.code: f for f in result}


def test_task_flags_carry_their_facts_and_say_them_in_english():
    t = task("P-7", "in_progress", due="2026-11-10", blocked=True, updated="2026-11-01 10:00")
    result = by_code(flags([t, task("P-8", due="2026-11-20")]))
    overdue, blocked, stale, unassigned = (
        result[c] for c in ("overdue", "blocked", "stale", "unassigned")
    )
    assert facts(overdue) == {"due": day("2026-11-10"), "days": 10}
    assert overdue.detail == "due 2026-11-10, 10 days ago"
    assert facts(blocked) == {"status": "Doing", "due": day("2026-11-10")}
    assert blocked.detail == "blocked (Doing)"
    assert facts(stale) == {"days": 19}
    assert stale.detail == "no update for 19 days"
    assert facts(unassigned) == {"due": day("2026-11-20")}
    assert unassigned.detail == "due 2026-11-20, nobody assigned"


def test_a_blocked_task_without_a_due_date_has_none():
    (blocked,) = flags([task("P-1", "in_progress", blocked=True, status="Waiting")])
    assert facts(blocked) == {"status": "Waiting"}


def test_stage_flags_carry_their_facts_and_say_them_in_english():
    result = flags(
        stages=[
            stage("Design", "late", total=6, done=4, due="2026-11-18"),
            stage("Build", "at_risk", due="2026-11-25", forecast="2026-12-02"),
            stage("UAT", "at_risk", total=4, done=0, due="2026-11-27", key="uat"),
        ],
        baselines={"design": 4},
    )
    late, creep = (f for f in result if f.subject == "Design")
    assert facts(late) == {"due": day("2026-11-18"), "remaining": 2, "total": 6}
    assert late.detail == "due 2026-11-18, 2 of 6 tasks remain"
    assert facts(creep) == {"total": 6, "baseline": 4, "growth_pct": 50}
    assert creep.detail == "6 tasks against a baseline of 4 (+50%)"
    forecast, no_pace = (f for f in result if f.code == "stage_at_risk")
    assert facts(forecast) == {
        "due": day("2026-11-25"),
        "forecast": day("2026-12-02"),
        "remaining": 5,
        "total": 10,
    }
    assert forecast.detail == "forecast 2026-12-02 is after the due date 2026-11-25"
    assert facts(no_pace) == {"due": day("2026-11-27"), "remaining": 4, "total": 4}
    assert no_pace.detail == "due 2026-11-27 with 4 tasks open and none done lately"


def test_deliverable_and_source_flags_carry_their_facts_and_say_them_in_english():
    plans = [StagePlan("需求", "req", "需求", day("2026-11-01"), ("需求规格说明书",))]
    result = by_code(
        flags(
            stages=[stage("需求", "done", 3, 3, "2026-11-01", "req")],
            plans=plans,
            failed={"jira": "HTTP 503"},
        )
    )
    missing, source = result["missing_deliverable"], result["source_unavailable"]
    assert facts(missing) == {"document": "需求规格说明书"}
    assert missing.detail == "'需求规格说明书' is not in the Drive folder"
    assert facts(source) == {"error": "HTTP 503"}
    assert source.detail == "jira failed: HTTP 503"


def test_a_flag_stored_without_facts_keeps_its_sentence():
    """Snapshots stored before flags carried facts have only the English detail."""
    old = RiskFlag("scope_creep", "medium", "Build", "Build", "13 tasks against a baseline of 10")
    assert facts(old) == {}
    assert english_detail(old) == "13 tasks against a baseline of 10"
