"""Runs that race: two syncs of one project at once, and many workers on one ledger.

- Two syncs of a project moments apart both saw the stage complete and both told it, with
  different event ids. Now the project's lock in the store makes them run one after the
  other: the first tells, the second sees nothing new (or a later snapshot already stored).
- 1,000 deliveries, four processes running `deliver-pending` on them at once on PostgreSQL:
  each is sent once (the outbox's sent journal counts every send).
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import threading
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.state import JOURNAL
from connectors.store import LedgerEntry, StateStore, delivery_key
from flows.delivery import deliver_pending
from flows.sync import SyncResult, sync_project
from stagecast.config import parse_config
from tests.postgres import fresh_database, postgres_reachable
from tests.reliability.rig import _state_url, backends
from tests.trello_boards import card, write_board

BEFORE = datetime.fromisoformat("2026-11-19T18:00:00+08:00")
NOW = datetime.fromisoformat("2026-11-20T18:00:00+08:00")

CONFIG = """
timezone: Asia/Shanghai
state: {state}
outbox: outbox
projects:
  - key: {key}
    name: Race
    stages:
      - {{name: 设计评审, key: design, match: 设计}}
      - {{name: 开发, key: build, match: 开发}}
    sources:
      - {{type: trello_export, path: board.json}}
    channels:
      - {{name: team, type: file, audience: internal}}
"""


def boards(folder: Path) -> tuple[list[Any], list[Any]]:
    """Yesterday: design open. Today: design done, and a build card gone overdue."""
    yesterday = [
        card("D1", "done", labels=("设计",), done_moves=("2026-11-18T03:00:00Z",)),
        card("D2", "doing", labels=("设计",)),
        card("B1", "doing", labels=("开发",), due="2026-11-19T12:00:00Z"),
    ]
    today = [
        yesterday[0],
        card("D2", "done", labels=("设计",), done_moves=("2026-11-20T03:00:00Z",)),
        yesterday[2],
    ]
    return yesterday, today


def told(results: list[SyncResult]) -> Counter[str]:
    """What the runs announced, by what it is about (not by id)."""
    return Counter(
        f"{e.type} {e.payload.get('stage') or e.payload.get('code')} {e.payload.get('subject', '')}"
        for r in results
        for e in r.events
    )


@pytest.mark.parametrize("backend", backends())
def test_two_syncs_at_once_tell_each_change_once(backend, tmp_path, reliability_tally):
    """Ten rounds of two threads, each with its own store (as two processes would have),
    syncing one project one second apart, released together."""
    for round in range(10):
        folder = tmp_path / str(round)
        folder.mkdir()
        reliability_tally.record("racing syncs", cases=1)
        with _state_url(backend, folder) as url:
            yesterday, today = boards(folder)
            write_board(folder / "board.json", yesterday)
            config = parse_config(CONFIG.format(state=url, key="race"), folder)
            project = config.project("race")
            with StateStore(config.state) as store:
                sync_project(project, store, BEFORE)
            write_board(folder / "board.json", today)
            results = _race(project, config.state, [NOW, NOW + timedelta(seconds=1)])
        news = told(results)
        assert news["stagecast.stage.completed 设计评审 "] == 1, news
        assert all(count == 1 for count in news.values()), news
        assert any(key.startswith("stagecast.risk.raised overdue") for key in news), news


def _race(project: Any, url: str, moments: list[datetime]) -> list[SyncResult]:
    """Sync once per moment, all at the same instant, each thread with its own store."""
    start = threading.Barrier(len(moments))
    results: list[SyncResult] = []
    errors: list[BaseException] = []

    def run(moment: datetime) -> None:
        try:
            with StateStore(url) as store:
                start.wait()
                results.append(sync_project(project, store, moment, publish=lambda r: None))
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(m,)) for m in moments]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


@pytest.mark.parametrize("backend", backends())
def test_two_sync_commands_at_once(backend, tmp_path, prefect_server, reliability_tally):
    """The same with two real `stagecast sync` processes, as the issue tried it."""
    reliability_tally.record("racing syncs", cases=1)
    key = f"race-{uuid.uuid4().hex[:8]}"
    with _state_url(backend, tmp_path) as url:
        cfg = tmp_path / "stagecast.yaml"
        cfg.write_text(CONFIG.format(state=url, key=key), encoding="utf-8")
        yesterday, today = boards(tmp_path)
        write_board(tmp_path / "board.json", yesterday)
        first = _sync(cfg, key, BEFORE)
        first.communicate(timeout=120)
        assert first.returncode == 0
        write_board(tmp_path / "board.json", today)
        runs = [_sync(cfg, key, NOW), _sync(cfg, key, NOW + timedelta(seconds=1))]
        outputs = [run.communicate(timeout=180)[0] for run in runs]
    events = Counter(
        f"{e['type']} {e.get('stage') or e.get('code')} {e.get('subject', '')}"
        for out in outputs
        for e in json.loads(out)["projects"][0]["events"]
    )
    assert events["stagecast.stage.completed 设计评审 "] == 1, events
    assert all(count == 1 for count in events.values()), events


def _sync(cfg: Path, key: str, moment: datetime) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "flows", "sync", "-c", str(cfg), "--project", key]
    command += ["--as-of", moment.isoformat(), "--json"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=None, text=True)


KEYS = 1000
WORKERS = 4


@pytest.mark.skipif(not postgres_reachable(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_a_thousand_deliveries_four_workers_each_sent_once(tmp_path, reliability_tally):
    """1,000 approved deliveries; four processes run `deliver-pending` at the same moment.
    Every claim is a conditional update under a row lock: each delivery is sent exactly once,
    whichever process gets it."""
    reliability_tally.record("racing claims on PostgreSQL", cases=KEYS)
    write_board(tmp_path / "board.json", [])
    with fresh_database("claims", "postgresql+psycopg") as url:
        text = CONFIG.format(state=url, key="race")
        config = parse_config(text, tmp_path)
        with StateStore(url) as store:
            for n in range(KEYS):
                period = f"p{n:04d}"
                store.record_delivery(
                    LedgerEntry(
                        key=delivery_key("race", "team_alert", period, "team"),
                        project="race",
                        report="team_alert",
                        period=period,
                        channel="team",
                        status="approved",
                        content={"title": f"alert {n}", "markdown": f"# alert {n}"},
                    )
                )
        context = multiprocessing.get_context("fork")
        with context.Pool(WORKERS) as pool:
            sent = pool.starmap(_worker, [(text, str(tmp_path))] * WORKERS)
        with StateStore(url) as store:
            statuses = Counter(e.status for e in store.deliveries())
    journal = (config.outbox / JOURNAL / "race.jsonl").read_text("utf-8").splitlines()
    per_key = Counter(json.loads(line)["key"] for line in journal)
    assert statuses == {"sent": KEYS}
    assert len(per_key) == KEYS and set(per_key.values()) == {1}
    assert sum(sent) == KEYS and all(count > 0 for count in sent), sent


def _worker(text: str, folder: str) -> int:
    """One worker process: `deliver-pending` once; how many it sent."""
    config = parse_config(text, Path(folder))
    with StateStore(config.state) as store:
        outcomes = deliver_pending(store, config, NOW)
    return sum(o.status == "sent" for o in outcomes)
