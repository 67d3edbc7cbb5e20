"""Syncing over time: first sync, same moment twice, a later sync with changes, a failing source."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.trello_boards import card, write_board

CONFIG = """
timezone: Asia/Shanghai
projects:
  - key: acme
    name: ACME 客户门户
    stages:
      - {name: 需求确认, key: requirements, match: 需求, due: 2026-11-13}
      - {name: 设计评审, key: design, match: 设计, due: 2026-11-27}
      - {name: 开发, key: build, match: 开发, due: 2026-12-18}
    sources:
      - type: trello_export
        path: board.json
"""

DONE_REQ = [
    card("REQ1", "done", labels=("需求",), done_moves=("2026-11-05T03:00:00.000Z",)),
    card("REQ2", "done", labels=("需求",), done_moves=("2026-11-06T03:00:00.000Z",)),
]
BUILD = [card(f"B{i}", labels=("开发",), due="2026-12-10T10:00:00.000Z") for i in range(5)]


def setup(tmp_path: Path, cards) -> Path:
    (tmp_path / "stagecast.yaml").write_text(CONFIG, encoding="utf-8")
    write_board(tmp_path / "board.json", cards)
    return tmp_path / "stagecast.yaml"


def sync(run_cli, cfg: Path, as_of: str):
    out = run_cli("sync", "-c", str(cfg), "--as-of", as_of, "--json")
    assert out.code in (0, 1), out.stderr
    return out


def snapshot_rows(tmp_path: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(tmp_path / ".stagecast" / "state.db") as db:
        return db.execute("select as_of, length(data) from snapshots order by as_of").fetchall()


def test_first_sync_emits_nothing_even_with_risks(tmp_path, run_cli):
    cfg = setup(tmp_path, [*DONE_REQ, card("D1", "doing", labels=("设计",), due="2026-11-01")])
    out = sync(run_cli, cfg, "2026-11-19T18:00")
    project = out.project("acme")
    # D1: due 11-01 (overdue); in progress, last active 11-10 (9 days: stale). 设计评审 has
    # nothing done in the window and is due 11-27, within 10 working days: at risk.
    assert [(r["code"], r["subject"]) for r in project["risks"]] == [
        ("overdue", "D1"),
        ("stage_at_risk", "设计评审"),
        ("stale", "D1"),
    ]
    assert project["events"] == []
    assert [s["status"] for s in project["stages"]] == ["done", "at_risk", "on_track"]


def test_same_moment_twice_changes_nothing(tmp_path, run_cli):
    cfg = setup(tmp_path, [*DONE_REQ, card("D1", "doing", labels=("设计",)), *BUILD])
    sync(run_cli, cfg, "2026-11-19T18:00")
    write_board(
        tmp_path / "board.json",
        [
            *DONE_REQ,
            card("D1", "done", labels=("设计",), done_moves=("2026-11-20T02:00:00.000Z",)),
            *BUILD,
        ],
    )
    first = sync(run_cli, cfg, "2026-11-20T18:00")
    rows = snapshot_rows(tmp_path)
    second = sync(run_cli, cfg, "2026-11-20T18:00")
    assert [e["type"] for e in first.project("acme")["events"]] == ["stagecast.stage.completed"]
    assert second.project("acme")["events"] == []
    same = {k: v for k, v in second.project("acme").items() if k != "events"}
    assert same == {k: v for k, v in first.project("acme").items() if k != "events"}
    assert snapshot_rows(tmp_path) == rows and len(rows) == 2


def test_later_sync_reports_completion_once_and_scope_creep(tmp_path, run_cli):
    cfg = setup(tmp_path, [*DONE_REQ, card("D1", "doing", labels=("设计",)), *BUILD])
    sync(run_cli, cfg, "2026-11-19T18:00")
    grown = [card(f"B{i}", labels=("开发",)) for i in range(5, 7)]
    write_board(
        tmp_path / "board.json",
        [
            *DONE_REQ,
            card("D1", "done", labels=("设计",), done_moves=("2026-11-20T02:00:00.000Z",)),
            *BUILD,
            *grown,
        ],
    )
    out = sync(run_cli, cfg, "2026-11-20T18:00")
    project = out.project("acme")
    events = project["events"]
    # 开发 went from 5 to 7 tasks: 700 > 120 × 5 = 600.
    assert [(e["type"], e.get("stage"), e.get("code")) for e in events] == [
        ("stagecast.stage.completed", "设计评审", None),
        ("stagecast.risk.raised", None, "scope_creep"),
    ]
    assert events[1]["severity"] == "medium" and events[1]["subject"] == "开发"
    assert [s["status"] for s in project["stages"]] == ["done", "done", "on_track"]
    # One more day, nothing new: the stage stays done, the creep is ongoing, no events.
    later = sync(run_cli, cfg, "2026-11-21T18:00")
    assert later.project("acme")["events"] == []
    assert "scope_creep" in [r["code"] for r in later.project("acme")["risks"]]


def test_six_tasks_on_a_baseline_of_five_is_not_creep(tmp_path, run_cli):
    cfg = setup(tmp_path, BUILD)
    sync(run_cli, cfg, "2026-11-19T18:00")
    write_board(tmp_path / "board.json", [*BUILD, card("B5", labels=("开发",))])
    out = sync(run_cli, cfg, "2026-11-20T18:00")  # 600 > 600 is false
    assert out.project("acme")["risks"] == []


def test_failing_source_is_carried_forward(tmp_path, run_cli):
    cfg = setup(tmp_path, [*DONE_REQ, *BUILD])
    sync(run_cli, cfg, "2026-11-19T18:00")
    (tmp_path / "board.json").write_text("{not json", encoding="utf-8")
    out = run_cli("sync", "-c", str(cfg), "--as-of", "2026-11-20T18:00", "--json")
    assert out.code == 1
    project = out.project("acme")
    (source,) = project["sources"]
    assert source["ok"] is False and source["tasks"] == 7
    assert source["last_ok"] == "2026-11-19T18:00:00+08:00"
    assert "board.json" in source["error"] and "not valid JSON" in source["error"]
    assert project["progress"]["total"] == 7
    assert [(r["code"], r["subject"], r["severity"]) for r in project["risks"]] == [
        ("source_unavailable", "trello_export", "high")
    ]
    assert [e["code"] for e in project["events"]] == ["source_unavailable"]
    assert "unavailable" in out.stderr


def test_first_sync_of_a_broken_source_has_nothing_to_carry(tmp_path, run_cli):
    cfg = setup(tmp_path, [])
    (tmp_path / "board.json").write_text("[]", encoding="utf-8")
    out = run_cli("sync", "-c", str(cfg), "--as-of", "2026-11-20T18:00", "--json")
    assert out.code == 1
    (source,) = out.project("acme")["sources"]
    assert (source["ok"], source["tasks"], source["last_ok"]) == (False, 0, None)
