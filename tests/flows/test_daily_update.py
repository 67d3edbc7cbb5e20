"""The daily-update flow: report files, the artifact, dry runs, and exactly-once delivery."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import httpx
from prefect.settings import PREFECT_API_URL

from tests.prefect_server import free_port
from tests.trello_boards import card, write_board

CONFIG = """
timezone: Asia/Shanghai
projects:
  - key: {key}
    name: ACME 客户门户
    stages:
      - {{name: 开发, key: build, match: 开发, due: 2026-12-18}}
    sources:
      - {{type: trello_export, path: board.json}}
    channels:
      - {{name: client-group, type: file, audience: client}}
      - {{name: team, type: file, audience: internal, language: en}}
    reports:
      daily_update: {{cron: "30 17 * * mon-fri", channels: [client-group, team]}}
"""


def workspace(tmp_path: Path) -> tuple[Path, str]:
    key = f"daily-{uuid.uuid4().hex[:8]}"
    cfg = tmp_path / "stagecast.yaml"
    cfg.write_text(CONFIG.format(key=key), encoding="utf-8")
    write_board(
        tmp_path / "board.json",
        [
            card("B1", "done", labels=("开发",), done_moves=("2026-11-19T03:00:00Z",)),
            card("B2", "doing", labels=("开发",), last_activity="2026-11-20T02:00:00Z"),
            card("B3", labels=("开发",), due="2026-11-18T10:00:00Z"),
        ],
    )
    return cfg, key


def latest_artifacts(*keys: str) -> dict[str, dict]:
    """The latest artifact of each key, as the UI's Artifacts page lists them."""
    body = {"artifacts": {"key": {"any_": list(keys)}}, "sort": "KEY_ASC", "limit": 50}
    url = f"{PREFECT_API_URL.value()}/artifacts/latest/filter"
    response = httpx.post(url, json=body, timeout=30)
    response.raise_for_status()
    return {a["key"]: a for a in response.json()}


def report(run_cli, cfg: Path, key: str, *extra: str):
    return run_cli(
        "report",
        "daily_update",
        "-c",
        str(cfg),
        "--project",
        key,
        "--as-of",
        "2026-11-20T17:30",
        "--json",
        *extra,
    )


def test_daily_update_writes_each_channels_report_and_an_artifact(tmp_path, run_cli):
    cfg, key = workspace(tmp_path)
    out = report(run_cli, cfg, key)
    assert out.code == 0, out.stderr
    deliveries = out.project(key)["deliveries"]
    assert [(d["channel"], d["status"]) for d in deliveries] == [
        ("client-group", "sent"),
        ("team", "sent"),
    ]
    assert all(d["id"].startswith("d-") and d["not_before"] is None for d in deliveries)
    outbox = tmp_path / ".stagecast" / "outbox" / key
    client_md = (outbox / "client-group" / "daily_update-2026-11-20.md").read_text("utf-8")
    team_md = (outbox / "team" / "daily_update-2026-11-20.md").read_text("utf-8")
    assert "项目日报" in client_md and "B3" in client_md
    assert "Daily update" in team_md
    assert (outbox / "team" / "daily_update-2026-11-20.html").exists()
    keys = latest_artifacts(f"report-{key}-daily-update", f"risks-{key}")
    assert f"report-{key}-daily-update" in keys
    assert "Daily update" in keys[f"report-{key}-daily-update"]["data"]  # the last one, team's
    assert f"risks-{key}" in keys


def test_the_same_day_is_never_sent_twice_unless_forced(tmp_path, run_cli):
    cfg, key = workspace(tmp_path)
    report(run_cli, cfg, key)
    again = report(run_cli, cfg, key)
    assert again.code == 0
    assert [d["status"] for d in again.project(key)["deliveries"]] == ["duplicate", "duplicate"]
    forced = report(run_cli, cfg, key, "--force", "--channel", "team")
    assert [(d["channel"], d["status"]) for d in forced.project(key)["deliveries"]] == [
        ("team", "sent")
    ]
    assert "--force" in forced.stderr
    with sqlite3.connect(tmp_path / ".stagecast" / "state.db") as db:
        rows = db.execute("select channel, status, attempts from deliveries order by channel")
        assert rows.fetchall() == [("client-group", "sent", 1), ("team", "sent", 2)]


def test_dry_run_stores_and_writes_nothing_and_previews_each_channel(tmp_path, run_cli):
    cfg, key = workspace(tmp_path)
    out = report(run_cli, cfg, key, "--dry-run")
    assert out.code == 0, out.stderr
    deliveries = out.project(key)["deliveries"]
    assert [d["status"] for d in deliveries] == ["dry_run", "dry_run"]
    assert "项目日报" in deliveries[0]["preview"] and "Daily update" in deliveries[1]["preview"]
    assert not (tmp_path / ".stagecast" / "outbox").exists()
    with sqlite3.connect(tmp_path / ".stagecast" / "state.db") as db:
        assert db.execute("select count(*) from snapshots").fetchone() == (0,)
        assert db.execute("select count(*) from deliveries").fetchone() == (0,)


def test_a_channel_that_cannot_send_fails_alone_and_exits_1(tmp_path, run_cli, monkeypatch):
    cfg, key = workspace(tmp_path)
    text = cfg.read_text("utf-8").replace(
        "{name: team, type: file, audience: internal, language: en}",
        '{name: team, type: slack, webhook: "env:TEAM_HOOK", audience: internal}',
    )
    cfg.write_text(text, encoding="utf-8")
    monkeypatch.setattr("connectors.http.RetryPolicy.backoff", lambda self, attempt: 0.0)
    monkeypatch.setenv("TEAM_HOOK", f"http://127.0.0.1:{free_port()}/services/T0/B0/x")
    out = report(run_cli, cfg, key)
    assert out.code == 1
    statuses = {d["channel"]: d["status"] for d in out.project(key)["deliveries"]}
    assert statuses == {"client-group": "sent", "team": "failed"}


def test_an_unset_secret_variable_stops_the_run_before_any_send(tmp_path, run_cli, monkeypatch):
    """`env:TEAM_HOOK` unset: exit 2 naming it, and the client group did not get the update
    either (it used to be sent before the other channel failed)."""
    cfg, key = workspace(tmp_path)
    text = cfg.read_text("utf-8").replace(
        "{name: team, type: file, audience: internal, language: en}",
        '{name: team, type: slack, webhook: "env:TEAM_HOOK", audience: internal}',
    )
    cfg.write_text(text, encoding="utf-8")
    monkeypatch.delenv("TEAM_HOOK", raising=False)
    out = report(run_cli, cfg, key)
    assert out.code == 2 and "environment variable TEAM_HOOK is not set" in out.stderr
    assert not (tmp_path / ".stagecast" / "outbox").exists()


def test_unknown_channel_or_kind_is_bad_input(tmp_path, run_cli):
    cfg, key = workspace(tmp_path)
    out = report(run_cli, cfg, key, "--channel", "nope")
    assert out.code == 2 and "unknown channel 'nope'" in out.stderr
    bad = run_cli("report", "weekly", "-c", str(cfg), "--project", key)
    assert bad.code == 2 and "unknown report kind 'weekly'" in bad.stderr
