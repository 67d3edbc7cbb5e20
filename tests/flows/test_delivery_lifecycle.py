"""The ledger over time: quiet hours, deliver-pending, approval, expiry, held, retried."""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.trello_boards import card, write_board

CONFIG = """
timezone: Asia/Shanghai
projects:
  - key: {key}
    name: ACME 客户门户
    calendar: {{country: CN, hours: "09:00-18:00"}}
    sources:
      - {{type: trello_export, path: board.json}}
    channels:
      - {{name: client-group, type: file, audience: client{approval}}}
      - {{name: team, type: file, audience: internal, language: en}}
    reports:
      daily_update: {{cron: "30 17 * * mon-fri", channels: [client-group, team]}}
"""


def workspace(tmp_path: Path, approval: bool = False) -> tuple[Path, str]:
    key = f"ledger-{uuid.uuid4().hex[:8]}"
    cfg = tmp_path / "stagecast.yaml"
    extra = ", approval: true" if approval else ""
    cfg.write_text(CONFIG.format(key=key, approval=extra), encoding="utf-8")
    write_board(
        tmp_path / "board.json", [card("B1", "doing", last_activity="2026-11-20T02:00:00Z")]
    )
    return cfg, key


def report(run_cli, cfg: Path, key: str, as_of: str):
    out = run_cli(
        "report", "daily_update", "-c", str(cfg), "--project", key, "--as-of", as_of, "--json"
    )
    return {d["channel"]: d for d in out.project(key)["deliveries"]}, out


def pending(run_cli, cfg: Path, as_of: str) -> list[dict]:
    out = run_cli("deliver-pending", "-c", str(cfg), "--as-of", as_of, "--json")
    assert out.code in (0, 1), out.stderr
    return out.json["deliveries"]


def ledger(run_cli, cfg: Path) -> dict[tuple[str, str], dict]:
    rows = run_cli("deliveries", "-c", str(cfg), "--json").json["deliveries"]
    return {(r["channel"], r["period"]): r for r in rows}


def outbox(tmp_path: Path, key: str, channel: str) -> list[str]:
    folder = tmp_path / ".stagecast" / "outbox" / key / channel
    return sorted(p.name for p in folder.glob("*.md")) if folder.exists() else []


def test_client_report_after_hours_waits_for_monday_internal_goes_at_once(tmp_path, run_cli):
    cfg, key = workspace(tmp_path)
    sent, out = report(run_cli, cfg, key, "2026-11-20T19:30")  # Friday evening
    assert out.code == 0, out.stderr
    assert sent["team"]["status"] == "sent"
    assert sent["client-group"]["status"] == "deferred"
    assert sent["client-group"]["not_before"] == "2026-11-23T09:00:00+08:00"
    assert outbox(tmp_path, key, "client-group") == []
    assert pending(run_cli, cfg, "2026-11-21T10:00") == []  # Saturday: still quiet
    (delivered,) = pending(run_cli, cfg, "2026-11-23T09:05")
    assert (delivered["channel"], delivered["status"]) == ("client-group", "sent")
    assert outbox(tmp_path, key, "client-group") == ["daily_update-2026-11-20.md"]
    assert pending(run_cli, cfg, "2026-11-23T09:20") == []  # never twice
    again, _ = report(run_cli, cfg, key, "2026-11-20T19:30")
    assert {c: d["status"] for c, d in again.items()} == {
        "client-group": "duplicate",
        "team": "duplicate",
    }


def test_a_newer_update_expires_the_older_unsent_one(tmp_path, run_cli):
    cfg, key = workspace(tmp_path)
    report(run_cli, cfg, key, "2026-11-20T19:30")  # Friday's waits for Monday 09:00
    monday, _ = report(run_cli, cfg, key, "2026-11-23T08:00")  # Monday's, still before hours
    assert monday["client-group"]["status"] == "deferred"
    rows = ledger(run_cli, cfg)
    assert rows[("client-group", "2026-11-20")]["status"] == "expired"
    (delivered,) = pending(run_cli, cfg, "2026-11-23T09:01")
    assert delivered["channel"] == "client-group"
    assert outbox(tmp_path, key, "client-group") == ["daily_update-2026-11-23.md"]


def test_approval_then_sent_in_the_window_and_rejection_never_sent(tmp_path, run_cli):
    cfg, key = workspace(tmp_path, approval=True)
    sent, _ = report(run_cli, cfg, key, "2026-11-20T10:00")
    waiting = sent["client-group"]
    assert waiting["status"] == "awaiting_approval"
    assert pending(run_cli, cfg, "2026-11-20T10:05") == []  # nobody approved yet
    approved = run_cli("approve", waiting["id"], "-c", str(cfg), "--by", "王工")
    assert approved.code == 0 and "approved by 王工" in approved.stdout
    (delivered,) = pending(run_cli, cfg, "2026-11-20T10:10")
    assert delivered["status"] == "sent"
    row = ledger(run_cli, cfg)[("client-group", "2026-11-20")]
    assert (row["status"], row["decided_by"]) == ("sent", "王工") and row["decided_at"]
    twice = run_cli("approve", waiting["id"], "-c", str(cfg))
    assert twice.code == 2 and "awaiting approval" in twice.stderr
    # Monday's update: rejected with a reason, never sent.
    monday, _ = report(run_cli, cfg, key, "2026-11-23T10:00")
    rejected = run_cli(
        "reject",
        monday["client-group"]["id"],
        "-c",
        str(cfg),
        "--reason",
        "数字待核对",
        "--by",
        "李经理",
    )
    assert rejected.code == 0
    assert pending(run_cli, cfg, "2026-11-23T11:00") == []
    row = ledger(run_cli, cfg)[("client-group", "2026-11-23")]
    assert (row["status"], row["reason"], row["decided_by"]) == ("rejected", "数字待核对", "李经理")


def test_stale_data_holds_the_client_report_and_exits_1(tmp_path, run_cli):
    cfg, key = workspace(tmp_path)
    run_cli("sync", "-c", str(cfg), "--as-of", "2026-11-19T10:00")
    (tmp_path / "board.json").write_text("{broken", encoding="utf-8")
    sent, out = report(run_cli, cfg, key, "2026-11-20T12:30")  # 26.5 h after the last good pull
    assert out.code == 1
    assert sent["client-group"]["status"] == "held" and sent["team"]["status"] == "sent"
    assert "held" in out.stderr
    # Instead of the client report, the team hears that the board could not be read.
    alert = next(d for d in out.project(key)["deliveries"] if d["report"] == "risk_alert")
    assert (alert["channel"], alert["status"]) == ("team", "sent")
    (told,) = [n for n in outbox(tmp_path, key, "team") if n.startswith("risk_alert")]
    text = (tmp_path / ".stagecast" / "outbox" / key / "team" / told).read_text(encoding="utf-8")
    assert "Source unavailable" in text and r"trello\_export · last read 19 Nov 10:00" in text
    assert outbox(tmp_path, key, "client-group") == []
    # Held again an hour later: the same alert is not sent twice the same day.
    again, _ = report(run_cli, cfg, key, "2026-11-20T13:30")
    assert again["client-group"]["status"] == "held"
    repeat = [d for d in _.project(key)["deliveries"] if d["report"] == "risk_alert"]
    assert [d["status"] for d in repeat] == ["duplicate"]


def test_an_approval_nobody_gives_expires_and_the_team_is_told(tmp_path, run_cli):
    cfg, key = workspace(tmp_path, approval=True)
    text = cfg.read_text(encoding="utf-8").replace(
        "approval: true}", "approval: true, approval_timeout: 2h}"
    )
    cfg.write_text(text, encoding="utf-8")
    sent, _ = report(run_cli, cfg, key, "2026-11-20T10:00")
    assert sent["client-group"]["status"] == "awaiting_approval"
    assert pending(run_cli, cfg, "2026-11-20T11:59") == []  # 1 h 59 min: still waiting
    done = pending(run_cli, cfg, "2026-11-20T12:00")
    assert [(d["report"], d["channel"], d["status"]) for d in done] == [
        ("daily_update", "client-group", "expired"),
        ("team_alert", "team", "sent"),
    ]
    (told,) = [n for n in outbox(tmp_path, key, "team") if n.startswith("team_alert")]
    text = (tmp_path / ".stagecast" / "outbox" / key / "team" / told).read_text(encoding="utf-8")
    assert "waited 2 hours for approval; it expired and was not sent" in text
    assert sent["client-group"]["id"] in text
    assert pending(run_cli, cfg, "2026-11-20T14:00") == []  # told once
    assert outbox(tmp_path, key, "client-group") == []
    late = run_cli("approve", sent["client-group"]["id"], "-c", str(cfg))
    assert late.code == 2 and "expired" in late.stderr


def test_a_failed_delivery_stays_and_is_retried_by_deliver_pending(tmp_path, run_cli):
    cfg, key = workspace(tmp_path)
    blocker = tmp_path / ".stagecast" / "outbox" / key / "team"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    sent, out = report(run_cli, cfg, key, "2026-11-20T10:00")
    assert out.code == 1 and sent["team"]["status"] == "failed"
    assert pending(run_cli, cfg, "2026-11-20T10:15")[0]["status"] == "failed"  # still broken
    blocker.unlink()
    (retried,) = pending(run_cli, cfg, "2026-11-20T10:30")
    assert (retried["channel"], retried["status"]) == ("team", "sent")
    assert ledger(run_cli, cfg)[("team", "2026-11-20")]["attempts"] == 3
