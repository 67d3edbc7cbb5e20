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
    assert names == sorted(
        f"{channel}/{report}.{ext}"
        for channel in ("archive", "client-group", "team")
        for report, chart in (
            ("daily_update-2026-11-20", "burnup.png"),  # every stage
            ("stage_report-design-review", "burnup-2.png"),  # the design review, stage 2
            ("weekly_update-2026-W47", "burnup.png"),  # Friday: the week's update too
            # A month on, the last three stages complete, and with them the project.
            ("stage_report-development", "burnup-3.png"),
            ("stage_report-uat", "burnup-4.png"),
            ("stage_report-launch", "burnup-5.png"),
            ("project_report-project", "burnup.png"),
        )
        for ext in (chart, "html", "md")
    )
    charts = workdir / ".stagecast" / "outbox" / ".charts"
    # One image per snapshot and stage selection, shared by 3 channels in 2 languages (the
    # weekly update reuses the daily update's).
    assert len(list(charts.glob("*.png"))) == 6
    # The demo says where the charts are.
    shown = first.stdout[first.stdout.index("Burn-up charts") :]
    assert "client-group/project_report-project.burnup.png" in shown
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
    # The wrap-up, when the last stage completes on 18 December.
    assert "event stagecast.project.completed: acme-portal" in first.stdout
    wrap_up = (outbox / "client-group" / "project_report-project.md").read_text("utf-8")
    assert "12月18日 完成，按期交付（计划 12月18日）" in wrap_up
    assert "**开发** 已完成" in wrap_up and "延期 10 个工作日" in wrap_up
    assert "王建国" not in wrap_up  # a client's wrap-up names no one
    team_wrap_up = (outbox / "team" / "project_report-project.md").read_text("utf-8")
    assert "## Problems and how they were solved" in team_wrap_up
    # Fresh state each time: a second run sends again instead of finding duplicates.
    second = run_cli("demo", "--workdir", str(workdir))
    assert second.code == 0 and "duplicate" not in second.stdout
    assert "event stagecast.stage.completed: 设计评审" in second.stdout
