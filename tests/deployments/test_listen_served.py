"""Real time, end to end: a card moved to Done on the (local) Trello → Trello's signed webhook
→ `stagecast listen` → the project's `sync` deployment, run by `stagecast serve` → the sync's
`stagecast.stage.completed` → the stage report in the file outbox. Every part is the real one
in its own process (the Prefect server, `serve`, `listen`) except Trello, played by the local
server that signs and delivers webhooks as Trello documents. The seconds from the move to the
report are printed (a measurement, not an assertion)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.connectors.fake_trello import FakeTrello
from tests.deployments.conftest import (
    flow_runs,
    outbox_files,
    serving,
    unique,
    wait_final,
    wait_for,
)
from tests.prefect_server import free_port, stop_group
from tests.trello_boards import board, card

STAGECAST = Path(sys.executable).with_name("stagecast")
CONFIG = """
timezone: Asia/Shanghai
listen: {{public_url: "{public}", debounce_seconds: 1, max_wait_seconds: 10}}
projects:
  - key: {key}
    name: 实时
    stages: [{{name: 设计评审, key: design, match: 设计}}, {{name: 开发, key: build, match: 开发}}]
    sources:
      - {{type: trello, url: "{trello}", board: "{board}", key: env:E2E_TRELLO_KEY,
          token: env:E2E_TRELLO_TOKEN, webhook_secret: env:E2E_TRELLO_SECRET}}
    channels: [{{name: archive, type: file, audience: internal, language: en}}]
    reports: {{stage_report: {{channels: [archive]}}}}
"""


def test_a_card_moved_to_done_reaches_the_stage_report_through_listen(
    tmp_path, prefect_server, run_cli, capsys
):
    key = unique("live")
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    cards = [
        card("D1", "done", labels=("设计",), done_moves=("2026-11-18T03:00:00Z",)),
        card("D2", "doing", labels=("设计",)),
        card("B1", "doing", labels=("开发",)),
    ]
    with FakeTrello() as fake:
        board_id = fake.add_board({**board(cards), "id": "5f00000000000000000000e2"})
        done = next(lst["id"] for lst in fake.board(board_id)["lists"] if lst["name"] == "Done")
        d2 = next(c["id"] for c in fake.board(board_id)["cards"] if c["shortLink"] == "D2")
        secrets = {
            "E2E_TRELLO_KEY": fake.key,
            "E2E_TRELLO_TOKEN": fake.token,
            "E2E_TRELLO_SECRET": fake.secret,
        }
        os.environ.update(secrets)
        cfg = tmp_path / "stagecast.yaml"
        cfg.write_text(
            CONFIG.format(public=public, key=key, trello=fake.url, board=board_id), "utf-8"
        )
        name = unique("live")
        try:
            baseline = run_cli("sync", "-c", str(cfg), "--project", key)  # the first snapshot
            assert baseline.code == 0, baseline.stderr
            with (
                serving(cfg, name, prefect_server, tmp_path / "serve.log"),
                listening(cfg, name, port, prefect_server, tmp_path / "listen.log"),
            ):
                registered = run_cli("webhooks", "register", "-c", str(cfg))
                assert registered.code == 0 and "created webhook" in registered.stdout
                moved, moved_at = time.monotonic(), datetime.now(UTC)
                fake.move_card(board_id, d2, done)
                assert fake.deliveries[-1] == (f"{public}/webhooks/trello", 202)
                (report,) = wait_for(
                    "the stage report in the outbox",
                    lambda: outbox_files(tmp_path, key, "archive", "stage_report"),
                    timeout=120,
                )
                seconds = time.monotonic() - moved
                assert report.name == "stage_report-design.md"
                assert "设计评审" in report.read_text(encoding="utf-8")
                # One sync from the webhook (the others are the schedule's, still to come).
                syncs = [r for r in flow_runs(f"sync/{name}") if "stagecast-webhook" in r.tags]
                assert [r.parameters["project"] for r in syncs] == [key]
                assert syncs[0].state_type.value == "COMPLETED"
                (stage_report,) = flow_runs(f"stage-report/{name}")
                assert stage_report.parameters["stage"] == "设计评审"
                with capsys.disabled():
                    print(f"\ncard moved to Done → stage report delivered: {seconds:.1f} s")
                    print(_timeline(moved_at, syncs[0], wait_final(stage_report.id)))
        finally:
            for variable in secrets:
                os.environ.pop(variable, None)


def _timeline(moved_at: datetime, sync: Any, report: Any) -> str:
    """Where the seconds went, from the runs' own timestamps (seconds after the move)."""

    def at(moment: datetime | None) -> str:
        return f"{(moment - moved_at).total_seconds():.1f}" if moment else "?"

    return (
        f"  sync run created {at(sync.created)}, started {at(sync.start_time)}, "
        f"ended {at(sync.end_time)}; stage-report run created {at(report.created)}, "
        f"started {at(report.start_time)}, ended {at(report.end_time)}"
    )


class listening:
    """`stagecast listen` in its own process, as a service manager runs it, until the block
    ends; started when it answers /health."""

    def __init__(self, cfg: Path, name: str, port: int, api: str, log: Path) -> None:
        self.command = [str(STAGECAST), "listen", "-c", str(cfg), "--port", str(port)]
        self.command += ["--name", name]
        self.env = {**os.environ, "PREFECT_API_URL": api}
        self.url, self.log = f"http://127.0.0.1:{port}", log

    def __enter__(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(f"`stagecast listen` to answer ({self.log})", self._up, timeout=60)
        return self.process

    def _up(self) -> bool:
        assert self.process.poll() is None, self.log.read_text(errors="replace")
        try:
            return httpx.get(f"{self.url}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def __exit__(self, *exc: object) -> None:
        stop_group(self.process)
