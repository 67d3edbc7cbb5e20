"""The state database and the command line under bad luck and bad input: one line naming what
and where, the SPEC's exit code, nothing pulled or sent, never a traceback."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.flows.test_daily_update import report  # the daily update at 2026-11-20 17:30
from tests.prefect_server import free_port
from tests.trello_boards import card, write_board

CONFIG = """
timezone: Asia/Shanghai
state: {state}
projects:
  - key: {key}
    name: State test
    language: en
    stages:
      - {{name: Design, key: design, match: 设计}}
    sources:
      - {{type: trello_export, path: board.json}}
    channels:
      - {{name: team, type: file, audience: internal}}
    reports:
      daily_update: {{channels: [team]}}
"""

AS_OF = "2026-11-20T17:30:00+08:00"


def workspace(tmp_path: Path, state: str = "sqlite:///.stagecast/state.db") -> tuple[Path, str]:
    key = f"state-{uuid.uuid4().hex[:8]}"
    write_board(tmp_path / "board.json", [card("D1", "doing", labels=("设计",))])
    cfg = tmp_path / "stagecast.yaml"
    cfg.write_text(CONFIG.format(state=state, key=key), encoding="utf-8")
    return cfg, key


def one_line(out, code: int, *words: str) -> None:
    """Exit `code`; stderr is one line (maybe wrapped) with each of `words`; no traceback."""
    assert out.code == code, (out.code, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout
    assert len(out.stderr.strip().splitlines()) <= 3, out.stderr
    for word in words:
        assert word in out.stderr.replace("\n", " "), out.stderr


def sync(run_cli, cfg: Path, key: str, *more: str):
    return run_cli("sync", "-c", str(cfg), "--project", key, "--as-of", AS_OF, *more)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_state_database_is_one_line(damage, tmp_path, run_cli, reliability_tally):
    reliability_tally.record("state database", cases=1)
    cfg, key = workspace(tmp_path)
    db = tmp_path / ".stagecast" / "state.db"
    db.parent.mkdir(parents=True)
    if damage == "garbage":
        db.write_bytes(os.urandom(8192))
    else:
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE t (x TEXT)")
            conn.executemany("INSERT INTO t VALUES (?)", [("x" * 500,)] * 200)
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 2 + 100])
    one_line(sync(run_cli, cfg, key), 2, str(db), "damaged", "--init")


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """Root ignores file modes; the immutable flag stops even root from writing."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available to make the database read-only for root")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot make {path} immutable here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_a_read_only_state_database_is_one_line(tmp_path, run_cli, reliability_tally):
    reliability_tally.record("state database", cases=1)
    cfg, key = workspace(tmp_path)
    db = tmp_path / ".stagecast" / "state.db"
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x TEXT)")  # a database, but not one we can migrate
    with immutable(db):
        out = sync(run_cli, cfg, key)
    one_line(out, 2, "cannot write", str(db))


def test_an_unreachable_postgresql_is_one_line(tmp_path, run_cli, reliability_tally):
    reliability_tally.record("state database", cases=1)
    port = free_port()
    cfg, key = workspace(tmp_path, f"postgresql+psycopg://stagecast@127.0.0.1:{port}/state")
    one_line(sync(run_cli, cfg, key), 1, f"cannot reach PostgreSQL 127.0.0.1:{port}/state")


def test_a_deleted_state_database_is_refused_and_nothing_is_resent(
    tmp_path, run_cli, prefect_server, reliability_tally
):
    """Yesterday's daily update was sent; then `state.db` was deleted. The next run refuses
    to start from nothing; with --init it starts afresh, and the outbox's journal keeps the
    update it already sent from going out again."""
    reliability_tally.record("state database", cases=2)
    cfg, key = workspace(tmp_path)
    first = report(run_cli, cfg, key)
    assert first.code == 0, first.stderr
    assert [d["status"] for d in first.project(key)["deliveries"]] == ["sent"]
    db = tmp_path / ".stagecast" / "state.db"
    db.unlink()
    one_line(report(run_cli, cfg, key), 2, "missing", str(db), "--init")
    assert not db.exists()
    again = report(run_cli, cfg, key, "--init")
    assert again.code == 0, again.stderr
    assert [d["status"] for d in again.project(key)["deliveries"]] == ["duplicate"]


def test_report_of_an_unknown_stage_exits_2_before_syncing(tmp_path, run_cli, reliability_tally):
    reliability_tally.record("bad command line", cases=1)
    cfg, key = workspace(tmp_path)
    out = run_cli("report", "stage_report", "-c", str(cfg), "--project", key, "--stage", "NOPE")
    one_line(out, 2, "--stage", "NOPE", "Design (design)")
    assert not (tmp_path / ".stagecast").exists()  # no state, no snapshot


@pytest.mark.parametrize("moment", ["0001-01-01T00:00", "9999-12-31T23:59", "2026-13-01"])
def test_an_as_of_out_of_range_exits_2(moment, tmp_path, run_cli, reliability_tally):
    reliability_tally.record("bad command line", cases=1)
    cfg, _ = workspace(tmp_path)
    one_line(run_cli("sync", "-c", str(cfg), "--as-of", moment), 2, "--as-of")
    assert not (tmp_path / ".stagecast").exists()


def test_the_installed_command_never_prints_a_traceback(tmp_path, reliability_tally):
    """The console entry point itself (not the test runner's): a config that is a folder, an
    unknown option, a missing file."""
    reliability_tally.record("bad command line", cases=3)
    for args in (["validate", "-c", str(tmp_path)], ["sync", "--nope"], ["sync", "-c", "/nope"]):
        done = subprocess.run(
            [sys.executable, "-m", "flows", *args], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr + done.stdout, done.stderr


def test_report_of_an_unknown_risk_exits_2_before_syncing(
    tmp_path, run_cli, prefect_server, reliability_tally
):
    """A subject that is no task, stage or source of the last sync: refused, nothing stored."""
    reliability_tally.record("bad command line", cases=1)
    cfg, key = workspace(tmp_path)
    assert sync(run_cli, cfg, key).code == 0
    db = tmp_path / ".stagecast" / "state.db"
    before = db.stat().st_mtime_ns
    out = run_cli(
        "report", "risk_alert", "-c", str(cfg), "--project", key, "--risk", "overdue:NOPE-1"
    )
    one_line(out, 2, "--risk", "NOPE-1")
    assert db.stat().st_mtime_ns == before
