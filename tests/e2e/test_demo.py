"""`stagecast demo` end to end: what a newcomer runs first, and what they should see."""

from __future__ import annotations

import re


def test_demo_runs_from_fresh_state_and_fills_the_outbox(tmp_path, run_cli):
    workdir = tmp_path / "demo"
    first = run_cli("demo", "--workdir", str(workdir))
    assert first.code == 0, first.stderr
    assert "Traceback" not in first.stderr and "WARNING" not in first.stderr
    outbox = workdir / ".stagecast" / "outbox" / "acme-portal"
    names = sorted(str(p.relative_to(outbox)) for p in outbox.rglob("*") if p.is_file())
    assert names == [
        f"{channel}/{report}.{ext}"
        for channel in ("archive", "client-group", "team")
        for report, chart in (
            ("daily_update-2026-11-20", "burnup.png"),  # every stage
            ("stage_report-design-review", "burnup-2.png"),  # the design review, stage 2
        )
        for ext in (chart, "html", "md")
    ]
    charts = workdir / ".stagecast" / "outbox" / ".charts"
    assert len(list(charts.glob("*.png"))) == 2  # shared by 3 channels in 2 languages
    client = (outbox / "client-group" / "daily_update-2026-11-20.md").read_text("utf-8")
    assert "ACME 客户门户" in client and "设计评审" in client
    team = (outbox / "team" / "daily_update-2026-11-20.md").read_text("utf-8")
    assert "Daily update" in team
    for stage, status in [
        ("需求确认", "done"),
        ("设计评审", "done"),
        ("开发", "late"),
        ("测试验收(UAT)", "at_risk"),
        ("上线", "on_track"),
    ]:
        assert re.search(rf"{re.escape(stage)}\s.*\s{status}\b", first.stdout), stage
    assert "event stagecast.stage.completed: 设计评审" in first.stdout
    # The stage report of 设计评审, 5 working days late, explains the slip from the history the
    # demo syncs first (history/): the SSO review blocked on the client, two reviews added.
    story = (outbox / "team" / "stage_report-design-review.md").read_text("utf-8")
    assert "Finished 20 Nov, late by 5 working days (due 13 Nov)." in story
    sso = "[p9LX5Xtz](https://trello.com/c/p9LX5Xtz) 单点登录 SSO 方案评审"
    for line in [
        f"{sso} (王建国) · **solved** · last comment: 评审通过",
        f"**Blocked** · {sso} · 6 Nov to 17 Nov · unblocked",
        "**Stage at risk** · 设计评审 · 6 Nov to 16 Nov · the stage became late",
        "**Stage late** · 设计评审 · 16 Nov to 20 Nov · the stage was completed",
        f"{sso} · finished 20 Nov, 5 working days late",
        f"{sso} · blocked 7 working days (6 Nov to 17 Nov)",
        "**Added after the stage began (from 5 tasks to 7)**",
    ]:
        assert line in story, line
    told = (outbox / "client-group" / "stage_report-design-review.md").read_text("utf-8")
    assert "p9LX5Xtz 单点登录 SSO 方案评审 · 阻塞 7 个工作日（11月6日 至 11月17日）" in told
    assert "王建国" not in told and "长期未更新" not in told  # no names, no internal flags
    assert "没有遇到问题" not in told
    # Fresh state each time: a second run sends again instead of finding duplicates.
    second = run_cli("demo", "--workdir", str(workdir))
    assert second.code == 0 and "duplicate" not in second.stdout
    assert "event stagecast.stage.completed: 设计评审" in second.stdout
