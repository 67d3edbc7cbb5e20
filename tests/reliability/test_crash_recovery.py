"""A delivery that dies at each step, then the next `deliver-pending`: never lost, never doubled.

The process "dies" by a `Crash` (a BaseException nothing in stagecast catches) raised at the
step under test; what the ledger had committed by then is all the next run has, as after a
`kill -9`. The claim's lease is short so the test need not wait ten minutes. Each case says what
the outcome must be, and why.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from connectors.channels.webhook import WebhookChannel
from connectors.store import StateStore
from flows.delivery import DeliveryRequest, deliver, deliver_pending
from tests.reliability.rig import AS_OF, Crash, message


def crash_when(monkeypatch, target: Any, name: str, *, when: Any = lambda *a, **k: True) -> None:
    """Replace `target.name` by one that dies when `when(*args)` holds, else does its job."""
    real = getattr(target, name)

    def dying(*args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            raise Crash(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, dying)


def test_crash_before_the_request_leaves_is_sent_once_by_the_next_run(
    rig, monkeypatch, reliability_tally
):
    """Claimed, then dead before the request left: nothing can have arrived, so the next
    run sends it, and the ledger says why."""
    crash_when(monkeypatch, StateStore, "part_leaving")
    with pytest.raises(Crash):
        deliver(rig.store, rig.request(message()))
    assert rig.ledger()["status"] == "sending" and rig.bot.received == []
    monkeypatch.undo()
    monkeypatch.setenv("RELIABILITY_HOOK", rig.bot.url)
    rig.after_the_crash()
    assert rig.ledger()["status"] == "sent" and len(rig.bot.delivered) == 1
    assert rig.team_alerts() == []
    reliability_tally.record("crash at each step of a delivery", cases=1)


def test_crash_after_the_request_left_is_unknown_and_the_team_is_told(
    rig, monkeypatch, reliability_tally
):
    """The request reached the platform and the process died before reading the answer: it
    may have arrived, so it is not resent; the team gets the report to check by hand."""
    real_post = httpx.Client.post

    def post_then_die(self: httpx.Client, *args: Any, **kwargs: Any) -> Any:
        real_post(self, *args, **kwargs)
        raise Crash("after the request was sent")

    monkeypatch.setattr(httpx.Client, "post", post_then_die)
    with pytest.raises(Crash):
        deliver(rig.store, rig.request(message()))
    monkeypatch.setattr(httpx.Client, "post", real_post)
    rig.after_the_crash()
    assert rig.ledger()["status"] == "unknown" and len(rig.bot.received) == 1
    alert = rig.team_alerts()
    assert len(alert) == 1 and "may or may not have reached the client" in alert[0]
    assert f"stagecast resolve {rig.ledger()['id']}" in alert[0] and "Today." in alert[0]
    rig.after_the_crash()  # and the next run neither resends nor tells again
    assert len(rig.bot.received) == 1 and len(rig.team_alerts()) == 1
    reliability_tally.record("crash at each step of a delivery", cases=1)


def test_crash_after_the_answer_is_unknown(rig, monkeypatch, reliability_tally):
    """The platform answered "taken" and the process died before recording it: unknown (it
    was in fact delivered — a person confirms), never resent."""
    real_try = WebhookChannel._try

    def answered_then_die(self: WebhookChannel, *args: Any) -> Any:
        real_try(self, *args)
        raise Crash("after the answer")

    monkeypatch.setattr(WebhookChannel, "_try", answered_then_die)
    with pytest.raises(Crash):
        deliver(rig.store, rig.request(message()))
    monkeypatch.setattr(WebhookChannel, "_try", real_try)
    rig.after_the_crash()
    assert rig.ledger()["status"] == "unknown" and len(rig.bot.delivered) == 1
    assert len(rig.team_alerts()) == 1
    reliability_tally.record("crash at each step of a delivery", cases=1)


def test_crash_before_the_ledger_write_sends_nothing_again(rig, monkeypatch, reliability_tally):
    """Every part was recorded delivered, the process died before writing `sent`: the next
    run has no part left to send and records it sent."""
    crash_when(
        monkeypatch, StateStore, "set_status", when=lambda s, id, status, **k: status == "sent"
    )
    with pytest.raises(Crash):
        deliver(rig.store, rig.request(message()))
    monkeypatch.undo()
    monkeypatch.setenv("RELIABILITY_HOOK", rig.bot.url)
    rig.after_the_crash()
    assert rig.ledger()["status"] == "sent" and len(rig.bot.delivered) == 1
    reliability_tally.record("crash at each step of a delivery", cases=1)


def test_a_multi_part_post_resumes_after_the_last_part_delivered(
    rig, monkeypatch, reliability_tally
):
    """Dead before part 2 left: the next run sends parts 2… only; no part arrives twice."""
    crash_when(monkeypatch, StateStore, "part_leaving", when=lambda s, id, part, lease: part == 2)
    with pytest.raises(Crash):
        deliver(rig.store, rig.request(message(sections=3)))
    assert rig.ledger()["parts_done"] == 1 and len(rig.bot.delivered) == 1
    monkeypatch.undo()
    monkeypatch.setenv("RELIABILITY_HOOK", rig.bot.url)
    rig.after_the_crash()
    contents = [r.body["markdown"]["content"] for r in rig.bot.delivered]
    assert rig.ledger()["status"] == "sent" and len(contents) == len(set(contents)) >= 3
    assert [c.split("\n", 1)[0][-5:] for c in contents] == [
        f"({i}/{len(contents)})" for i in range(1, len(contents) + 1)
    ]
    reliability_tally.record("crash at each step of a delivery", cases=1)


def test_a_live_claim_is_left_alone(rig, monkeypatch, reliability_tally):
    """A claim whose lease has not run out belongs to a run still sending: not recovered."""
    crash_when(monkeypatch, StateStore, "part_leaving")
    request = rig.request(message())
    with pytest.raises(Crash):
        deliver(rig.store, DeliveryRequest(**{**request.__dict__, "lease": timedelta(hours=1)}))
    monkeypatch.undo()
    monkeypatch.setenv("RELIABILITY_HOOK", rig.bot.url)
    assert deliver_pending(rig.store, rig.config, AS_OF) == []
    assert rig.ledger()["status"] == "sending" and rig.bot.received == []
    reliability_tally.record("crash at each step of a delivery", cases=1)


def test_a_report_rerun_finishes_the_partly_delivered_rendering(
    rig, monkeypatch, reliability_tally
):
    """Dead after part 1 of 3; then the report is run again (a new rendering, a later moment):
    the group gets parts 2 and 3 of the first rendering, not the new one from part 1."""
    crash_when(monkeypatch, StateStore, "part_leaving", when=lambda s, id, part, lease: part == 2)
    first = message(sections=3)
    with pytest.raises(Crash):
        deliver(rig.store, rig.request(first))
    monkeypatch.undo()
    monkeypatch.setenv("RELIABILITY_HOOK", rig.bot.url)
    time.sleep(0.4)  # the dead claim's lease runs out
    rerun = replace(
        first, markdown=first.markdown + "\n\nLater.", sections=(*first.sections, "Later.")
    )
    outcome = deliver(rig.store, rig.request(rerun))
    contents = [r.body["markdown"]["content"] for r in rig.bot.delivered]
    assert outcome.status == "sent" and len(contents) == len(set(contents)) == 3
    assert all("Later." not in c for c in contents)
    reliability_tally.record("crash at each step of a delivery", cases=1)
