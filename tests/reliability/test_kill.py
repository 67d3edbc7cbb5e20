"""`kill -9` of a real `stagecast report` in the middle of its chat post, on SQLite and on
PostgreSQL: the delivery was left `sending`; it must not stay so forever, and the next
`deliver-pending` must decide it by what the platform can have received.

- Killed while waiting out a 429's Retry-After: the platform said "not taken" and no other
  request had left, so nothing can have arrived: it is sent (once).
- Killed while the platform held its request (it took the post; the answer never came back):
  it may have arrived, so it is not sent again; it becomes `unknown`, naming the part that was
  on its way, and the team is told once, with the report, to check and settle it.

Before crash recovery, `deliver-pending` skipped it, a newer daily update did not expire it,
and the client never got it (SQLite and PostgreSQL alike)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from connectors.store import StateStore
from tests.connectors.fake_webhooks import FakeWebhooks
from tests.reliability.rig import _state_url, backends
from tests.trello_boards import card, write_board

CONFIG = """
timezone: Asia/Shanghai
state: {state}
delivery: {{claim_timeout_s: 1}}
projects:
  - key: {key}
    name: Kill test
    language: en
    sources:
      - {{type: trello_export, path: board.json}}
    channels:
      - {{name: client-group, type: wecom, webhook: "env:KILL_TEST_HOOK", audience: client}}
      - {{name: team, type: file, audience: internal}}
    reports:
      daily_update: {{channels: [client-group]}}
"""

FRIDAY = "2026-11-20T10:00:00+08:00"
MONDAY = "2026-11-23T10:00:00+08:00"


def killed_mid_backoff(cfg: Path, key: str, bot: Any, env: dict[str, str]) -> None:
    """Start `stagecast report daily_update`; kill -9 it half a second after its post reached
    the bot (which got a 429 and is waiting it out, or is still waiting for the answer)."""
    command = [sys.executable, "-m", "flows", "report", "daily_update", "-c", str(cfg)]
    command += ["--project", key, "--as-of", FRIDAY]
    run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while not bot.received and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.05)
    assert bot.received, "the report never posted"
    time.sleep(0.5)  # inside the 30 s Retry-After wait
    run.send_signal(signal.SIGKILL)
    run.wait(10)


@pytest.fixture(params=backends())
def killed(request, tmp_path, monkeypatch, prefect_server):
    """A workspace whose Friday update was killed mid-send; yields (config, key, bot, url)."""
    key = f"kill-{uuid.uuid4().hex[:8]}"
    write_board(tmp_path / "board.json", [card("A1", "doing")])
    with FakeWebhooks() as hooks, _state_url(request.param, tmp_path) as url:
        bot = hooks.bot("wecom")
        bot.rate_limit(retry_after=30)
        monkeypatch.setenv("KILL_TEST_HOOK", bot.url)
        cfg = tmp_path / "stagecast.yaml"
        cfg.write_text(CONFIG.format(state=url, key=key), encoding="utf-8")
        killed_mid_backoff(cfg, key, bot, dict(os.environ))
        with StateStore(url) as store:
            [entry] = store.deliveries()
            assert entry.status == "sending" and entry.in_flight is None
        time.sleep(1.5)  # the claim's lease (claim_timeout_s: 1) runs out
        yield cfg, key, bot, url


def test_deliver_pending_sends_it_once(killed, run_cli, reliability_tally):
    """The dead claim had no request in flight (the 429 was a definite "not taken"): the next
    deliver-pending sends it; a re-run of the report then finds it sent."""
    reliability_tally.record("kill -9 mid-send", cases=1)
    cfg, key, bot, url = killed
    out = run_cli("deliver-pending", "-c", str(cfg), "--as-of", FRIDAY, "--json")
    assert out.code == 0, out.stderr
    assert [d["status"] for d in out.json["deliveries"]] == ["sent"]
    assert "stopped before any request left; it will be sent" in out.stderr  # which case
    again = run_cli(
        "report", "daily_update", "-c", str(cfg), "--project", key, "--as-of", FRIDAY, "--json"
    )
    assert [d["status"] for d in again.project(key)["deliveries"]] == ["duplicate"]
    assert len(bot.delivered) == 1 and len(bot.received) == 2  # the 429, then the post
    with StateStore(url) as store:
        [entry] = store.deliveries()
    assert (entry.status, entry.parts_done, entry.in_flight) == ("sent", 1, None)


def test_a_newer_daily_update_expires_it(killed, run_cli, reliability_tally):
    """Monday's update runs before any deliver-pending: Friday's dead claim is recovered and,
    never sent, expires in favour of Monday's, which is sent."""
    reliability_tally.record("kill -9 mid-send", cases=1)
    cfg, key, bot, url = killed
    out = run_cli(
        "report", "daily_update", "-c", str(cfg), "--project", key, "--as-of", MONDAY, "--json"
    )
    assert out.code == 0, out.stderr
    with StateStore(url) as store:
        status = {e.period: e.status for e in store.deliveries()}
    assert status == {"2026-11-20": "expired", "2026-11-23": "sent"}
    assert len(bot.delivered) == 1


HELD = 2.0  # the bot holds the post this long, then takes it; the sender is dead by then


@pytest.fixture(params=backends())
def killed_in_flight(request, tmp_path, monkeypatch, prefect_server):
    """A workspace whose Friday update was killed while the bot held its post (then took it);
    yields (config, key, bot, url) once the dead claim's lease ran out."""
    key = f"kill-{uuid.uuid4().hex[:8]}"
    write_board(tmp_path / "board.json", [card("A1", "doing")])
    with FakeWebhooks() as hooks, _state_url(request.param, tmp_path) as url:
        bot = hooks.bot("wecom")
        bot.slow(HELD)
        monkeypatch.setenv("KILL_TEST_HOOK", bot.url)
        cfg = tmp_path / "stagecast.yaml"
        cfg.write_text(CONFIG.format(state=url, key=key), encoding="utf-8")
        killed_mid_backoff(cfg, key, bot, dict(os.environ))
        with StateStore(url) as store:
            [entry] = store.deliveries()
        assert (entry.status, entry.parts_done, entry.in_flight) == ("sending", 0, 1)
        deadline = time.monotonic() + HELD + 5  # HELD > claim_timeout_s: the lease ran out too
        while not bot.delivered and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(bot.delivered) == 1  # the group has it; the dead sender never heard
        yield cfg, key, bot, url


def test_a_post_in_flight_is_unknown_and_the_team_is_told(killed_in_flight, run_cli, tally):
    """Killed while its post was in flight: deliver-pending does not send it again (the group
    has it); the ledger says `unknown` and why; the team's channel gets the alert with the
    report and the command that settles it; a second deliver-pending neither resends nor tells
    again."""
    tally.record("kill -9 mid-send", cases=1)
    cfg, key, bot, url = killed_in_flight
    out = run_cli("deliver-pending", "-c", str(cfg), "--as-of", FRIDAY, "--json")
    assert out.code == 1, out.stderr  # the run did not get the report out for sure
    assert "stopped while part 1 was on its way" in out.stderr
    statuses = {(d["report"], d["status"]) for d in out.json["deliveries"]}
    assert statuses == {("daily_update", "unknown"), ("team_alert", "sent")}, statuses
    with StateStore(url) as store:
        [entry] = [e for e in store.deliveries() if e.channel == "client-group"]
    assert (entry.status, entry.parts_done, entry.in_flight) == ("unknown", 0, 1)
    assert "part 1 was on its way: it may have been delivered" in (entry.last_error or "")
    [alert] = sorted((cfg.parent / ".stagecast/outbox" / key / "team").glob("team_alert-*.md"))
    text = alert.read_text("utf-8")
    assert "may or may not have reached the client" in text
    assert f"stagecast resolve {entry.id}" in text
    again = run_cli("deliver-pending", "-c", str(cfg), "--as-of", FRIDAY, "--json")
    assert [d["status"] for d in again.json["deliveries"]] == []
    assert len(bot.received) == 1 and len(bot.delivered) == 1
    assert len(list(alert.parent.glob("team_alert-*.md"))) == 1
