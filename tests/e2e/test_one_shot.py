"""One path for the work, two entry points: a one-shot command without a Prefect API runs the
work plainly (Prefect never imported, no temporary server); with one, the same work runs as
flow runs the server records. Both must leave the same reports in the outbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.prefect_api import prefect_configured

ROOT = Path(__file__).resolve().parents[2]

# Runs the CLI and says on its last stderr line whether Prefect was imported at all.
CLI_THEN_SAY = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('prefect imported:', 'prefect' in sys.modules,"
    " file=sys.stderr))\n"
    "from flows.cli import main\n"
    "sys.argv = ['stagecast', *sys.argv[1:]]\n"
    "main()\n"
)


def without_prefect_api(home: Path) -> dict[str, str]:
    """This environment without any Prefect API: no variable, an empty Prefect home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return {**env, "PREFECT_HOME": str(home), "PREFECT_PROFILE": "stagecast-tests"}


def one_shot(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI_THEN_SAY, *args],
        cwd=cwd,
        env={**without_prefect_api(cwd / "prefect-home"), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def outbox_texts(workdir: Path) -> dict[str, object]:
    """Every report the demo left in its outbox, by path, and the keys its sent journal holds
    (their ids and times differ by nature; the charts are drawn from the same numbers)."""
    outbox = workdir / ".stagecast" / "outbox"
    found: dict[str, object] = {}
    for path in sorted(p for p in outbox.rglob("*") if p.is_file()):
        text = path.read_text("utf-8") if path.suffix in (".md", ".html", ".jsonl") else None
        if path.suffix == ".jsonl" and text is not None:
            found[str(path.relative_to(outbox))] = [json.loads(n)["key"] for n in text.splitlines()]
        elif text is not None:
            found[str(path.relative_to(outbox))] = text
    return found


def test_the_demo_without_a_prefect_api_never_imports_prefect(tmp_path):
    done = one_shot(["demo", "--workdir", str(tmp_path / "demo")], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().endswith("prefect imported: False"), done.stderr
    assert "event stagecast.stage.completed: 设计评审" in done.stdout
    assert outbox_texts(tmp_path / "demo")


def test_one_shot_sync_report_and_deliver_pending_without_prefect(tmp_path):
    from flows.demo import fresh_workspace

    cfg = fresh_workspace(tmp_path / "demo")
    args = ["sync", "-c", str(cfg), "--as-of", "2026-11-20T17:30:00+08:00", "--json"]
    done = one_shot(args, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().endswith("prefect imported: False")
    document = json.loads(done.stdout)
    assert [p["key"] for p in document["projects"]] == ["acme-portal"]
    assert document["projects"][0]["progress"]["total"] > 0
    for command in (
        ["report", "daily_update", "--project", "acme-portal", "-c", str(cfg), "--dry-run"],
        ["deliver-pending", "-c", str(cfg), "--as-of", "2026-11-21T09:30:00+08:00"],
    ):
        done = one_shot(command, tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stderr.strip().endswith("prefect imported: False"), command


def test_the_same_demo_as_recorded_flow_runs_leaves_the_same_outbox(
    tmp_path, run_cli, prefect_server
):
    plain = one_shot(["demo", "--workdir", str(tmp_path / "plain")], tmp_path)
    assert plain.returncode == 0, plain.stderr
    recorded = run_cli("demo", "--workdir", str(tmp_path / "recorded"))
    assert recorded.code == 0, recorded.stderr
    assert outbox_texts(tmp_path / "recorded") == outbox_texts(tmp_path / "plain")
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        names = {r.name for r in client.read_flow_runs(limit=200)}
    assert "daily-update-acme-portal-2026-11-20" in names
    assert any(n.startswith("stage-report-acme-portal-设计评审") for n in names)


@pytest.mark.parametrize(
    "where",
    ["variable", "dotenv", "prefect.toml", "profile", "nowhere"],
)
def test_which_settings_mean_a_prefect_api_is_configured(where, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith("PREFECT_API"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PREFECT_HOME", str(home))
    monkeypatch.delenv("PREFECT_PROFILE", raising=False)
    monkeypatch.chdir(tmp_path)
    url = "http://prefect.internal:4200/api"
    if where == "variable":
        monkeypatch.setenv("PREFECT_API_URL", url)
    if where == "dotenv":
        (tmp_path / ".env").write_text(f"PREFECT_LOGGING_LEVEL=INFO\nPREFECT_API_URL={url}\n")
    if where == "prefect.toml":
        (tmp_path / "prefect.toml").write_text(f'[api]\nurl = "{url}"\n')
    if where == "profile":
        (home / "profiles.toml").write_text(
            f'active = "prod"\n[profiles.prod]\nPREFECT_API_URL = "{url}"\n'
            '[profiles.ephemeral]\nPREFECT_SERVER_ALLOW_EPHEMERAL_MODE = "true"\n'
        )
    if where == "nowhere":
        # Another profile names an API, but it is not the active one.
        (home / "profiles.toml").write_text(
            f'active = "ephemeral"\n[profiles.prod]\nPREFECT_API_URL = "{url}"\n'
        )
    assert prefect_configured() is (where != "nowhere")


def test_a_prefect_secret_without_a_prefect_api_says_what_to_do(tmp_path, monkeypatch):
    from connectors.secrets import reveal
    from stagecast.config import ConfigError, SecretRef

    for name in list(os.environ):
        if name.startswith("PREFECT_API"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as refused:
        reveal(SecretRef("secret", "jira-token"))
    (problem,) = refused.value.problems
    assert problem.startswith("secret:jira-token: Prefect Secret blocks live on a Prefect server")
    assert "PREFECT_API_URL" in problem
