"""The working calendar, rule by rule, with China's 2026 holidays as the real-world case."""

from __future__ import annotations

from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from stagecast.calendar import WorkCalendar, parse_as_of
from tests.builders import SHANGHAI, at, day, weekdays


def test_plain_weekdays():
    cal = weekdays()
    assert cal.is_working_day(day("2026-11-20"))  # Friday
    assert not cal.is_working_day(day("2026-11-21"))  # Saturday
    assert not cal.is_working_day(day("2026-11-22"))


def test_china_national_day_and_make_up_saturday():
    cal = weekdays(country="CN")
    for d in range(1, 8):
        assert not cal.is_working_day(date(2026, 10, d)), f"2026-10-0{d} is a holiday"
    assert cal.is_working_day(day("2026-10-10"))  # Saturday, 调休 make-up working day
    assert cal.is_working_day(day("2026-09-20"))  # Sunday, make-up day for National Day
    assert not cal.is_working_day(day("2026-10-11"))  # plain Sunday
    assert cal.is_working_day(day("2026-10-08"))


def test_config_lists_win_over_the_country():
    cal = weekdays(
        country="CN",
        holidays=[day("2026-10-10")],
        workday_overrides=[day("2026-10-05"), day("2026-11-21")],
    )
    assert not cal.is_working_day(day("2026-10-10"))
    assert cal.is_working_day(day("2026-10-05"))
    assert cal.is_working_day(day("2026-11-21"))


def test_custom_workdays():
    cal = WorkCalendar(SHANGHAI, ["sun", "mon", "tue", "wed", "thu"])
    assert cal.is_working_day(day("2026-11-22"))  # Sunday
    assert not cal.is_working_day(day("2026-11-20"))  # Friday


def test_one_working_day_after_friday_is_monday():
    assert weekdays().add_working_days(day("2026-11-20"), 1) == day("2026-11-23")


def test_advance_counts_only_days_after_and_zero_stays():
    cal = weekdays()
    assert cal.add_working_days(day("2026-11-21"), 0) == day("2026-11-21")
    assert cal.add_working_days(day("2026-11-21"), 1) == day("2026-11-23")  # from Saturday


def test_advance_across_national_day_and_onto_make_up_day():
    cal = weekdays(country="CN")
    assert cal.add_working_days(day("2026-09-30"), 1) == day("2026-10-08")
    assert cal.add_working_days(day("2026-10-09"), 1) == day("2026-10-10")


def test_last_working_days_on_or_before():
    cal = weekdays()
    assert cal.last_working_days(day("2026-11-22"), 3) == [
        day("2026-11-18"),
        day("2026-11-19"),
        day("2026-11-20"),
    ]
    assert cal.last_working_days(day("2026-11-20"), 10)[0] == day("2026-11-09")


def test_working_days_after_due():
    cal = weekdays()
    assert cal.working_days_after(day("2026-11-20"), day("2026-11-23")) == 1
    assert cal.working_days_after(day("2026-11-20"), day("2026-11-20")) == 0


def test_local_date_converts_before_taking_the_date():
    cal = weekdays()
    assert cal.local_date(at("2026-11-20T16:30:00+00:00")) == day("2026-11-21")
    assert cal.local_date(at("2026-11-20T15:59:59+00:00")) == day("2026-11-20")
    assert cal.local_date(day("2026-11-20")) == day("2026-11-20")


def test_working_hours_and_next_window():
    cal = weekdays()
    assert cal.in_working_hours(at("2026-11-20 09:00"))
    assert not cal.in_working_hours(at("2026-11-20 18:00"))
    assert cal.next_window_start(at("2026-11-20 18:30")) == at("2026-11-23 09:00")
    assert cal.next_window_start(at("2026-11-20 07:00")) == at("2026-11-20 09:00")
    assert cal.next_window_start(at("2026-11-20 10:00")) == at("2026-11-20 10:00")


def test_parse_as_of_reads_naive_in_default_zone():
    assert parse_as_of("2026-11-20T18:00", SHANGHAI) == at("2026-11-20 18:00")
    utc = parse_as_of("2026-11-20T10:00:00Z", SHANGHAI)
    assert utc == at("2026-11-20 18:00")
    try:
        parse_as_of("yesterday", SHANGHAI)
    except ValueError as err:
        assert "--as-of" in str(err)
    else:
        raise AssertionError("a bad --as-of must be refused")


_CAL = weekdays(country="CN", holidays=[date(2026, 12, 24)])
_days = st.dates(min_value=date(2024, 1, 1), max_value=date(2027, 12, 31))


@given(_days, st.integers(min_value=1, max_value=40))
def test_advancing_lands_on_a_working_day_that_many_days_later(start: date, n: int):
    end = _CAL.add_working_days(start, n)
    assert _CAL.is_working_day(end)
    assert _CAL.working_days_after(start, end) == n


@given(_days, st.integers(min_value=1, max_value=30))
def test_window_is_n_working_days_on_or_before(start: date, n: int):
    window = _CAL.last_working_days(start, n)
    assert len(window) == n
    assert all(_CAL.is_working_day(d) and d <= start for d in window)
    assert window == sorted(window)
    gap_days = [window[0] + timedelta(days=i) for i in range((start - window[0]).days + 1)]
    assert sum(_CAL.is_working_day(d) for d in gap_days) == n


def test_hours_are_local_not_utc():
    cal = WorkCalendar(ZoneInfo("Europe/London"), hours=(time(9), time(17)))
    assert cal.in_working_hours(at("2026-11-20T09:30:00+00:00"))
    assert not cal.in_working_hours(at("2026-11-20 09:30"))  # 01:30 in London
