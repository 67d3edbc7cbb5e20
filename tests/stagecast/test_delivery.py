"""When a report may go out (SPEC §8): freshness, approval, quiet hours."""

from __future__ import annotations

from stagecast.delivery import decide, stale_task_sources
from stagecast.models import SourceStatus
from tests.builders import at, day, weekdays

CAL = weekdays(country="CN", holidays=[day("2026-12-31")])


def go(audience="client", approval=False, when="2026-11-20 10:00", stale=()):
    return decide(
        audience=audience, approval=approval, calendar=CAL, as_of=at(when), stale_sources=stale
    )


def test_internal_channels_send_at_once_even_at_night():
    assert go("internal", when="2026-11-21 23:00").outcome == "send"


def test_client_reports_inside_working_hours_send():
    assert go(when="2026-11-20 09:00").outcome == "send"
    assert go(when="2026-11-20 17:59").outcome == "send"


def test_client_reports_outside_hours_wait_for_the_next_window():
    friday_evening = go(when="2026-11-20 18:00")
    assert friday_evening.outcome == "deferred"
    assert friday_evening.not_before == at("2026-11-23 09:00")
    early = go(when="2026-11-23 07:30")
    assert early.not_before == at("2026-11-23 09:00")
    before_national_day = go(when="2026-09-30 19:00")
    assert before_national_day.not_before == at("2026-10-08 09:00")
    make_up_saturday = go(when="2026-10-09 20:00")
    assert make_up_saturday.not_before == at("2026-10-10 09:00")


def test_approval_comes_before_the_window():
    assert go(approval=True, when="2026-11-21 12:00").outcome == "awaiting_approval"


def test_stale_data_holds_client_reports_only():
    held = go(stale=["jira"])
    assert held.outcome == "held" and "jira" in (held.reason or "")
    assert go("internal", stale=["jira"]).outcome == "send"


def status(name, kind, last_ok):
    return SourceStatus(name, kind, last_ok is not None, 0, None, at(last_ok) if last_ok else None)


def test_task_sources_older_than_26_hours_are_stale():
    now = at("2026-11-20 18:00")
    sources = [
        status("jira", "jira", "2026-11-19 16:00"),  # exactly 26 h: still fresh
        status("board", "trello", "2026-11-19 15:59"),  # 26 h 1 min: stale
        status("drive", "gdrive", "2026-11-01 10:00"),  # documents do not hold reports
        status("export", "trello_export", None),  # never succeeded
    ]
    task_types = {"jira", "trello", "trello_export"}  # what the source plugins say
    assert stale_task_sources(sources, now, task_types) == ["board", "export"]
