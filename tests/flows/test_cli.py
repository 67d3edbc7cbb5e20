"""The command line's contract: exit codes, messages that point at the problem, clean stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.trello_boards import card, write_board

GOOD = """
timezone: Asia/Shanghai
projects:
  - key: acme
    name: ACME
    sources:
      - type: trello_export
        path: board.json
    channels:
      - {name: team, type: slack, webhook: "env:TEAM_HOOK"}
    reports:
      daily_update: {cron: "30 17 * * mon-fri", channels: [team]}
"""

BROKEN = {
    "misspelt key": (
        GOOD.replace("timezone: Asia", "timezon: Asia"),
        ["timezon: unknown key (did you mean 'timezone'?) (line 2)"],
    ),
    "literal secret": (
        GOOD.replace('"env:TEAM_HOOK"', "https://hooks.slack.com/services/T0/B0/SECRETVALUE"),
        ["projects[0].channels[0].webhook: a literal secret is not allowed"],
    ),
    "broken yaml": (GOOD.replace("name: ACME", "name: [ACME"), ["line "]),
    "unknown channel": (
        GOOD.replace("channels: [team]", "channels: [team, tema]"),
        ["projects[0].reports.daily_update.channels[1]: unknown channel 'tema'"],
    ),
    "duplicate project key": (
        GOOD + GOOD.split("projects:\n", 1)[1],
        ["projects[1].key: duplicate project key 'acme'"],
    ),
}


def workspace(tmp_path: Path, text: str) -> Path:
    write_board(tmp_path / "board.json", [card("A1")])
    path = tmp_path / "stagecast.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_validate_refuses_broken_configs(case, tmp_path, run_cli):
    text, expected = BROKEN[case]
    cfg = workspace(tmp_path, text)
    out = run_cli("validate", "-c", str(cfg))
    assert out.code == 2
    for fragment in expected:
        assert fragment in out.stderr
    assert "Traceback" not in out.stderr and "SECRETVALUE" not in out.stderr
    assert out.stdout == ""


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_sync_with_a_broken_config_touches_nothing(case, tmp_path, run_cli):
    cfg = workspace(tmp_path, BROKEN[case][0])
    out = run_cli("sync", "-c", str(cfg), "--json")
    assert out.code == 2 and out.stdout == ""
    assert not (tmp_path / ".stagecast").exists()


def test_validate_ok(tmp_path, run_cli, monkeypatch):
    monkeypatch.setenv("TEAM_HOOK", "https://hooks.slack.com/services/T0/B0/x")
    out = run_cli("validate", "-c", str(workspace(tmp_path, GOOD)))
    assert out.code == 0 and "OK" in out.stdout


def test_validate_names_an_unset_secret_variable(tmp_path, run_cli, monkeypatch):
    """`report` would fail that channel after sending the others: validate says so first."""
    monkeypatch.delenv("TEAM_HOOK", raising=False)
    out = run_cli("validate", "-c", str(workspace(tmp_path, GOOD)))
    assert out.code == 2 and "environment variable TEAM_HOOK is not set" in out.stderr


def test_missing_config_file(tmp_path, run_cli):
    out = run_cli("validate", "-c", str(tmp_path / "nope.yaml"))
    assert out.code == 2 and "nope.yaml" in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "last friday"], "--as-of"),
        (["--project", "acme-portal"], "unknown project 'acme-portal' (projects: acme)"),
    ],
)
def test_bad_arguments_exit_2(args, message, tmp_path, run_cli):
    cfg = workspace(tmp_path, GOOD)
    out = run_cli("sync", "-c", str(cfg), *args)
    assert out.code == 2 and message in out.stderr
    assert not (tmp_path / ".stagecast").exists()


def test_real_process_keeps_stdout_for_json_and_logs_on_stderr(tmp_path):
    cfg = workspace(tmp_path, GOOD)
    (tmp_path / "board.json").write_text("{}", encoding="utf-8")
    from prefect.settings import PREFECT_API_URL

    # The child process talks to this session's test server instead of starting its own.
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    proc = subprocess.run(
        [sys.executable, "-m", "flows", "sync", "-c", str(cfg), "--as-of", "2026-11-20", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    document = json.loads(proc.stdout)
    assert document["projects"][0]["sources"][0]["ok"] is False
    assert "not a Trello board export" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_everywhere(run_cli):
    for command in ([], ["validate"], ["sync"]):
        out = run_cli(*command, "--help")
        assert out.code == 0 and "Usage" in out.stdout


def test_every_report_kind_of_the_config_has_a_flow_the_cli_can_run() -> None:
    import importlib

    from flows.cli import REPORT_FLOWS
    from stagecast.config import REPORT_KINDS

    assert set(REPORT_FLOWS) == set(REPORT_KINDS)
    for module, name in REPORT_FLOWS.values():
        assert getattr(importlib.import_module(module), name).name == name.removesuffix(
            "_flow"
        ).replace("_", "-")
