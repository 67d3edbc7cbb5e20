"""Which occurrence a scheduled daily update is for, and which missed one to catch up."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from stagecast.schedule import latest_due, missed_occurrence, next_after, superseded_by

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")
WEEKDAYS = "30 17 * * mon-fri"


def sh(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def test_latest_due_includes_the_exact_minute() -> None:
    assert latest_due(WEEKDAYS, SH, sh("2026-11-23 17:30")) == sh("2026-11-23 17:30")
    assert latest_due(WEEKDAYS, SH, sh("2026-11-23 17:29")) == sh("2026-11-20 17:30")
    assert latest_due(WEEKDAYS, SH, sh("2026-11-22 12:00")) == sh("2026-11-20 17:30")


def test_a_run_is_superseded_only_when_the_next_occurrence_is_due_too() -> None:
    friday = sh("2026-11-20 17:30")
    assert superseded_by(WEEKDAYS, SH, friday, sh("2026-11-23 02:00")) is None
    assert superseded_by(WEEKDAYS, SH, friday, sh("2026-11-23 17:30")) == sh("2026-11-23 17:30")


def test_only_the_latest_missed_occurrence_is_caught_up_after_the_grace() -> None:
    wednesday = {date(2026, 11, 18)}
    assert missed_occurrence(WEEKDAYS, SH, sh("2026-11-21 10:00"), wednesday) == sh(
        "2026-11-20 17:30"
    )
    assert missed_occurrence(WEEKDAYS, SH, sh("2026-11-20 17:59"), wednesday) == sh(
        "2026-11-19 17:30"
    )
    assert missed_occurrence(WEEKDAYS, SH, sh("2026-11-20 18:01"), wednesday) == sh(
        "2026-11-20 17:30"
    )
    made = {date(2026, 11, 18), date(2026, 11, 20)}
    assert missed_occurrence(WEEKDAYS, SH, sh("2026-11-21 10:00"), made) is None
    assert missed_occurrence(WEEKDAYS, SH, sh("2026-11-21 10:00"), set()) is None
    # A manual update for a later day (re-run with --as-of) is not undone by a catch-up.
    assert missed_occurrence(WEEKDAYS, SH, sh("2026-11-21 10:00"), {date(2026, 11, 25)}) is None


def test_daylight_saving_keeps_the_local_hour() -> None:
    daily = "0 9 * * *"
    before = datetime(2026, 11, 1, 8, 0, tzinfo=NY)  # DST ends at 02:00 that day
    assert next_after(daily, NY, before) == datetime(2026, 11, 1, 9, 0, tzinfo=NY)
    assert next_after(daily, NY, before).utcoffset() == timedelta(hours=-5)


@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)))
def test_latest_due_is_the_last_occurrence_not_after_now(naive: datetime) -> None:
    now = naive.replace(tzinfo=SH)
    due = latest_due(WEEKDAYS, SH, now)
    assert due <= now < next_after(WEEKDAYS, SH, due)
    assert due.weekday() < 5 and (due.hour, due.minute) == (17, 30)
