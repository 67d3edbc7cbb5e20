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
    # Fresh state each time: a second run sends again instead of finding duplicates.
    second = run_cli("demo", "--workdir", str(workdir))
    assert second.code == 0 and "duplicate" not in second.stdout
    assert "event stagecast.stage.completed: 设计评审" in second.stdout
