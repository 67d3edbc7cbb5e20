"""Processes that reach the same delivery key at the same instant: the chat group gets it once.

Three worker processes (each with its own store, so its own database connections) are released
together by a barrier, fifty rounds in a row, on one delivery key per round, through the real
delivery path (`deliver`, `deliver_pending`) to a real local WeCom webhook. Each round has its
own webhook, so what arrived is counted per key (and WeCom's 20-a-minute pacing per webhook does
not slow the race down). The rounds take turns at the ways two workers meet on one key:

- `fresh`: nobody has recorded the key yet; all three run the report (the insert is the claim:
  the key is unique, the one whose row went in sends);
- `rerun`: the key failed earlier; all three run the report again (each tries to move it from
  `failed` to `sending` under a row lock; one does);
- `pending`: the key failed earlier; all three run `deliver-pending`;
- `mixed`: the key failed earlier; two run the report, one runs `deliver-pending`;
- `refused`: the key failed earlier; all three run `deliver-pending`, and the platform refuses
  the first post for good (a wrong key): one request, and the key waits for a config change —
  a worker that read the list before that must not try it again.

On PostgreSQL (READ COMMITTED, as shipped) and on SQLite.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connectors.channels.base import ChannelContext
from connectors.store import LedgerEntry, StateStore, delivery_key
from flows.delivery import DeliveryRequest, content_of, deliver, deliver_if_due, deliver_pending
from stagecast.config import Config, parse_config
from stagecast.evaluate import calendar_for
from stagecast.models import Message
from tests.builders import daily_message
from tests.connectors.fake_webhooks import FakeWebhooks
from tests.reliability.rig import AS_OF, CHAT, CONFIG, _state_url, backends

ROUNDS = 50
WORKERS = 3
SCENARIOS = ("fresh", "rerun", "pending", "mixed", "refused")
HOOK = "RELIABILITY_HOOK"
WAIT = 60.0  # a barrier not reached by then means a worker is stuck: fail, do not hang


def scenario(round: int) -> str:
    return SCENARIOS[round % len(SCENARIOS)]


def what_worker_does(round: int, worker: int) -> str:
    """`report` (the delivery path of `stagecast report`) or `pending` (`deliver-pending`)."""
    kind = scenario(round)
    if kind in ("pending", "refused") or (kind == "mixed" and worker == 0):
        return "pending"
    return "report"


def round_message(round: int) -> Message:
    """One client report per round: its own key (period) and a text naming the round."""
    period = f"round-{round:02d}"
    return daily_message(f"# Stage report\n\n{period}", kind="stage_report", period=period)


@dataclass(frozen=True)
class Race:
    """What the workers share: the config, the round's webhooks and the barriers."""

    config_text: str
    folder: Path
    hooks: list[str]
    start: Any  # multiprocessing.Barrier: the parent and every worker
    done: Any
    results: Any  # multiprocessing.Queue of (round, worker, what, status or error)


def worker(race: Race, number: int) -> None:
    """One worker process: every round, wait at the barrier, then take its path to the key."""
    try:
        config = parse_config(race.config_text, race.folder)
        with StateStore(config.state) as store:
            for round in range(ROUNDS):
                os.environ[HOOK] = race.hooks[round]  # read when the channel sends
                race.start.wait(WAIT)
                what = what_worker_does(round, number)
                try:
                    status = _take_part(store, config, round, what)
                except Exception:
                    status = "error: " + traceback.format_exc(limit=4)
                race.results.put((round, number, what, status))
                race.done.wait(WAIT)
    except Exception:
        race.results.put((-1, number, "setup", "error: " + traceback.format_exc(limit=4)))


def _take_part(store: StateStore, config: Config, round: int, what: str) -> str:
    """What the worker's path made of this round's key, as the run reports it."""
    if what == "pending":
        outcomes = deliver_pending(store, config, AS_OF)
        return ",".join(o.status for o in outcomes) or "-"
    project = config.project("acme")
    channel = project.channel("client-chat")
    context = ChannelContext(project="acme", outbox=config.outbox)
    request = DeliveryRequest(round_message(round), channel, context, AS_OF, calendar_for(project))
    return deliver(store, request).status


def failed_earlier(store: StateStore, round: int) -> None:
    """The round's key, recorded as a transient failure that is due again now."""
    message = round_message(round)
    store.record_delivery(
        LedgerEntry(
            key=delivery_key("acme", message.kind, message.period, "client-chat"),
            project="acme",
            report=message.kind,
            period=message.period,
            channel="client-chat",
            status="failed",
            retryable=True,
            attempts=1,
            last_error="HTTP 503 (an earlier run)",
            content=content_of(message, AS_OF),
        )
    )


def _settle(store: StateStore, round: int) -> LedgerEntry:
    """The refused round's key as the race left it; then expired, so the next rounds'
    `deliver-pending` (whose webhook differs, which counts as a fixed config) leaves it be."""
    [entry] = [e for e in store.deliveries() if e.period == f"round-{round:02d}"]
    if entry.status == "failed":
        store.set_status(entry.id, "expired", expect="failed")
    return entry


@pytest.mark.parametrize("backend", backends())
def test_workers_racing_on_one_key_send_it_once(backend, tmp_path, monkeypatch, tally):
    """50 rounds × 3 processes on one key each: every key arrives exactly once, is `sent`
    after one attempt, and the processes that lost say so (the key is being sent or was sent,
    never a stale `failed`)."""
    context = multiprocessing.get_context("fork")
    with FakeWebhooks() as server, _state_url(backend, tmp_path) as url:
        bots = [server.bot("wecom") for _ in range(ROUNDS)]
        monkeypatch.setenv(HOOK, bots[0].url)
        (tmp_path / "board.json").write_text("{}", encoding="utf-8")
        text = CONFIG.format(state=url, channel=CHAT.format(platform="wecom"))
        config = parse_config(text, tmp_path)
        with StateStore(config.state):
            pass  # migrated once here, so the workers start on the same schema
        race = Race(
            text,
            tmp_path,
            [bot.url for bot in bots],
            context.Barrier(WORKERS + 1),
            context.Barrier(WORKERS + 1),
            context.Queue(),
        )
        workers = [context.Process(target=worker, args=(race, n)) for n in range(WORKERS)]
        for process in workers:
            process.start()
        settled: dict[str, LedgerEntry] = {}
        results: list[tuple[int, int, str, str]] = []
        try:
            with StateStore(config.state) as store:
                for round in range(ROUNDS):
                    if scenario(round) != "fresh":
                        failed_earlier(store, round)
                    if scenario(round) == "refused":
                        bots[round].error_code()
                    race.start.wait(WAIT)
                    race.done.wait(WAIT)
                    results += [race.results.get(timeout=WAIT) for _ in range(WORKERS)]
                    tally.record(f"racing deliveries on {backend}", cases=1)
                    if scenario(round) == "refused":
                        settled[f"round-{round:02d}"] = _settle(store, round)
                ledger = {e.period: e for e in store.deliveries()} | settled
        finally:
            for process in workers:
                process.join(WAIT)
                if process.is_alive():
                    process.kill()
    by_round: dict[int, list[str]] = {}
    for round, _, _, status in results:
        by_round.setdefault(round, []).append(status)
    arrived = [len(bot.delivered) for bot in bots]
    asked = [len(bot.received) for bot in bots]
    sendable = [n for n in range(ROUNDS) if scenario(n) != "refused"]
    losers = Counter(s.split(":")[0] for n in sendable for s in by_round[n] if s != "sent")
    refused = [n for n in range(ROUNDS) if n not in sendable]
    print(
        f"\n{backend}: {len(sendable)} rounds x {WORKERS} processes on a key to send:"
        f" {sum(arrived[n] for n in sendable)} arrived,"
        f" {sum(max(0, arrived[n] - 1) for n in sendable)} duplicates,"
        f" {sum(arrived[n] == 0 for n in sendable)} lost; the others reported {dict(losers)};"
        f" {len(refused)} rounds refused for good: {sum(asked[n] for n in refused)} requests"
    )
    errors = [r for r in results if str(r[3]).startswith("error")]
    assert not errors, errors[0][3]
    for round in range(ROUNDS):
        entry, statuses, kind = ledger[f"round-{round:02d}"], by_round[round], scenario(round)
        earlier = 0 if kind == "fresh" else 1
        assert asked[round] == 1, (round, kind, asked[round], statuses)  # nobody tried twice
        if kind == "refused":
            assert arrived[round] == 0 and sorted(statuses) == ["-", "-", "failed"], statuses
            assert (entry.status, entry.retryable, entry.attempts) == ("failed", False, 2)
            continue
        assert arrived[round] == 1, (round, kind, arrived[round], statuses)
        assert (entry.status, entry.attempts) == ("sent", earlier + 1), (round, entry)
        assert statuses.count("sent") == 1, (round, kind, statuses)
        assert set(statuses) <= {"sent", "sending", "duplicate", "-"}, (round, kind, statuses)


def test_a_worker_acting_on_an_old_reading_does_not_try_again(rig, tally):
    """The interleaving the race above rarely hits, played in order: worker B reads the
    failures due (as `deliver-pending` does before working down its list); worker A tries
    one and the platform refuses it for good; then B reaches it. B's reading is out of date, so
    B leaves it: one request, and the delivery waits for its config to change."""
    tally.record(f"racing deliveries on {rig.store.engine.dialect.name}", cases=1)
    failed_earlier(rig.store, 0)
    [stale] = rig.store.deliveries(status="failed")  # worker B's list
    rig.bot.error_code()
    [refused] = deliver_pending(rig.store, rig.config, AS_OF)  # worker A
    assert refused.status == "failed" and len(rig.bot.received) == 1
    assert deliver_if_due(rig.store, rig.config, stale, AS_OF) is None  # worker B
    entry = rig.store.delivery(stale.id)
    assert (entry.status, entry.retryable, entry.attempts) == ("failed", False, 2)
    assert len(rig.bot.received) == 1 and rig.bot.delivered == []
