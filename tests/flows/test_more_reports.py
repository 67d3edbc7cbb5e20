"""Stage reports, risk alerts and the charter on the demo engagement, through the real CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.demo import (
    BOARD,
    DEMO_SOURCE,
    HISTORY,
    TODAY,
    WRAP_UP,
    WRAP_UP_DAY,
    YESTERDAY,
    fresh_workspace,
)


@pytest.fixture
def demo(tmp_path, run_cli) -> Path:
    """The demo workspace synced yesterday and today (设计评审 completes today)."""
    cfg = fresh_workspace(tmp_path / "demo")
    shutil.copyfile(cfg.parent / HISTORY, cfg.parent / BOARD)
    assert run_cli("sync", "-c", str(cfg), "--as-of", YESTERDAY).code == 0
    shutil.copyfile(DEMO_SOURCE / BOARD, cfg.parent / BOARD)
    return cfg


def report(run_cli, cfg: Path, *args: str):
    out = run_cli(
        "report", *args, "-c", str(cfg), "--project", "acme-portal", "--as-of", TODAY, "--json"
    )
    assert out.code == 0, out.stderr
    return {d["channel"]: d["status"] for d in out.project("acme-portal")["deliveries"]}


def outbox(cfg: Path, channel: str, name: str) -> str:
    return (cfg.parent / ".stagecast" / "outbox" / "acme-portal" / channel / name).read_text(
        "utf-8"
    )


def test_stage_report_of_a_completed_stage_once_per_stage(demo, run_cli):
    sent = report(run_cli, demo, "stage_report", "--stage", "设计评审")
    assert set(sent.values()) == {"sent"} and "client-group" in sent
    client = outbox(demo, "client-group", "stage_report-design-review.md")
    # Due Fri 11-13, done Fri 11-20: late by the 5 working days 11-16 .. 11-20.
    assert "晚 5 个工作日" in client and "系统架构设计评审" in client
    internal = outbox(demo, "team", "stage_report-design-review.md")
    assert "5 working days late" in internal or "late by 5 working days" in internal
    again = report(run_cli, demo, "stage_report", "--stage", "design-review")
    assert set(again.values()) == {"duplicate"}


def test_stage_report_before_completion_is_dated(demo, run_cli):
    report(run_cli, demo, "stage_report", "--stage", "开发")
    text = outbox(demo, "client-group", "stage_report-development@2026-11-20.md")
    assert "开发" in text


def test_risk_alert_goes_only_where_it_should(demo, run_cli):
    sent = report(run_cli, demo, "risk_alert", "--risk", "blocked:nQQfb1HG")
    assert sent and set(sent.values()) == {"sent"}
    # stale is medium (below the alert's min_severity: high) and internal: nobody gets it.
    assert report(run_cli, demo, "risk_alert", "--risk", "stale:QHnZoxJy") == {}


def test_charter_once_per_channel(demo, run_cli):
    first = report(run_cli, demo, "charter")
    assert first == {"client-group": "sent"}
    text = outbox(demo, "client-group", "charter-once.md")
    assert "王工" in text and "09:00–18:00" in text
    assert report(run_cli, demo, "charter") == {"client-group": "duplicate"}


def test_report_arguments_are_checked(demo, run_cli):
    missing = run_cli("report", "stage_report", "-c", str(demo), "--project", "acme-portal")
    assert missing.code == 2 and "--stage" in missing.stderr
    bad = run_cli(
        "report", "risk_alert", "-c", str(demo), "--project", "acme-portal", "--risk", "late:X"
    )
    assert bad.code == 2 and "CODE:SUBJECT" in bad.stderr


def test_weekly_update_once_per_iso_week(demo, run_cli):
    sent = report(run_cli, demo, "weekly_update")
    assert sent == {"client-group": "sent", "team": "sent", "archive": "sent"}
    client = outbox(demo, "client-group", "weekly_update-2026-W47.md")
    # Friday 2026-11-20 is in ISO week 47 (16–22 November); the client sees no names.
    assert "第 47 周" in client and "11月16日 至 11月22日" in client and "赵磊" not in client
    team = outbox(demo, "team", "weekly_update-2026-W47.md")
    assert "Week 47" in team and "Done this week" in team
    assert set(report(run_cli, demo, "weekly_update").values()) == {"duplicate"}


def test_project_wrap_up_when_the_last_stage_completes(demo, run_cli):
    report(run_cli, demo, "daily_update")
    shutil.copyfile(demo.parent / WRAP_UP, demo.parent / BOARD)
    synced = run_cli("sync", "-c", str(demo), "--as-of", WRAP_UP_DAY, "--json")
    assert synced.code == 0, synced.stderr
    events = [e["type"] for e in synced.project("acme-portal")["events"]]
    assert events.count("stagecast.project.completed") == 1
    out = run_cli(
        "report", "project_report", "-c", str(demo), "--project", "acme-portal",
        "--as-of", WRAP_UP_DAY, "--json",
    )  # fmt: skip
    assert out.code == 0, out.stderr
    sent = {d["channel"]: d["status"] for d in out.project("acme-portal")["deliveries"]}
    assert sent == {"client-group": "sent", "team": "sent", "archive": "sent"}
    client = outbox(demo, "client-group", "project_report-project.md")
    assert "项目总结" in client and "各阶段：计划与实际" in client
    team = outbox(demo, "team", "project_report-project.md")
    assert "Project wrap-up" in team and "Finished 18 Dec, on time" in team
