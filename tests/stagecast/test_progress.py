"""Progress, throughput, forecast and status (SPEC §4), worked by hand at every boundary.

The reference moment is Friday 2026-11-20 18:00 in Shanghai, Monday–Friday, N = 10, so the
window W runs Monday 2026-11-09 .. Friday 2026-11-20.
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from stagecast.models import StagePlan
from stagecast.progress import project_progress, stage_progress
from tests.builders import at, day, task, weekdays

TODAY = day("2026-11-20")
CAL = weekdays()


def plan(due: str | None = None) -> StagePlan:
    return StagePlan("Build", "build", "Build", day(due) if due else None)


def progress(tasks, due=None, today=TODAY, cal=CAL, window=10, horizon=10):
    return stage_progress(plan(due), tasks, cal, today, window, horizon)


def open_tasks(n: int):
    return [task(f"T-{i}", "todo") for i in range(n)]


SIX_OPEN_THREE_IN_WINDOW = [
    task("D-1", "done", done="2026-11-08"),  # Sunday before W: not in the window
    task("D-2", "done", done="2026-11-09"),  # first day of W
    task("D-3", "done", done="2026-11-15"),  # a Sunday inside the span counts
    task("D-4", "done", done="2026-11-20 23:30"),  # as_of's date, later that evening
    *open_tasks(6),
]


def test_figures_and_forecast_worked_by_hand():
    s = progress(SIX_OPEN_THREE_IN_WINDOW, due="2026-12-31")
    assert (s.total, s.done, s.ratio) == (10, 4, 0.4)
    assert s.done_in_window == 3
    assert s.throughput == 0.3
    # ceil(6 * 10 / 3) = 20 working days after Friday 11-20 -> Friday 12-18
    assert s.forecast == day("2026-12-18")
    assert s.status == "on_track"


def test_forecast_after_due_is_at_risk_and_equal_is_not():
    assert progress(SIX_OPEN_THREE_IN_WINDOW, due="2026-12-17").status == "at_risk"
    assert progress(SIX_OPEN_THREE_IN_WINDOW, due="2026-12-18").status == "on_track"


def test_late_only_when_due_is_before_today():
    assert progress(SIX_OPEN_THREE_IN_WINDOW, due="2026-11-19").status == "late"
    due_today = progress(SIX_OPEN_THREE_IN_WINDOW, due="2026-11-20")
    assert due_today.status == "at_risk"  # not late yet; forecast 12-18 is after the due date


def test_ceil_is_integer_arithmetic():
    tasks = [task("D", "done", done="2026-11-20"), task("E", "done", done="2026-11-19")]
    tasks += open_tasks(1)
    # ceil(1 * 10 / 2) = 5 working days after Friday -> Friday 11-27
    assert progress(tasks).forecast == day("2026-11-27")
    tasks = [task(f"D{i}", "done", done="2026-11-20") for i in range(3)] + open_tasks(1)
    # ceil(10 / 3) = 4 -> Thursday 11-26
    assert progress(tasks).forecast == day("2026-11-26")


def test_forecast_across_a_weekend():
    tasks = [task(f"D{i}", "done", done="2026-11-18") for i in range(10)] + open_tasks(1)
    assert progress(tasks).forecast == day("2026-11-23")  # one working day after Friday


def test_forecast_across_national_day():
    cal = weekdays(country="CN")
    tasks = [task(f"D{i}", "done", done="2026-09-29") for i in range(10)] + open_tasks(1)
    s = progress(tasks, today=day("2026-09-30"), cal=cal)
    assert s.forecast == day("2026-10-08")


def test_window_uses_working_days_so_holidays_stretch_it():
    cal = weekdays(country="CN")
    # 10 working days up to Thu 2026-10-15: 10-08, 09, 10 (Sat make-up), 12..15 = 7, so the
    # window reaches back over National Day to 09-28, 29, 30.
    window = cal.last_working_days(day("2026-10-15"), 10)
    assert window[0] == day("2026-09-28")
    tasks = [task("D", "done", done="2026-10-03"), *open_tasks(1)]  # holiday completion
    assert progress(tasks, today=day("2026-10-15"), cal=cal).done_in_window == 1


def test_done_at_is_read_in_local_time_around_midnight():
    late_utc = at("2026-11-08T16:30:00+00:00")  # 2026-11-09 00:30 in Shanghai: inside W
    early_utc = at("2026-11-08T15:30:00+00:00")  # 23:30 on the 8th: outside
    tasks = [task("A", "done", done_at=late_utc), task("B", "done", done_at=early_utc)]
    assert progress(tasks + open_tasks(1)).done_in_window == 1


def test_no_pace_no_forecast_and_horizon_boundary():
    tasks = [task("D", "done", done="2026-10-01"), *open_tasks(3)]
    s = progress(tasks, due="2026-12-04")  # 10 working days after 11-20 is 12-04
    assert s.forecast is None and s.throughput == 0.0
    assert s.status == "at_risk"
    assert progress(tasks, due="2026-12-07").status == "on_track"
    assert progress(tasks).status == "on_track"  # no due date


def test_done_stage_forecast_is_latest_completion_even_when_past_due():
    tasks = [task("A", "done", done="2026-11-02"), task("B", "done", done="2026-11-13 09:00")]
    s = progress(tasks, due="2026-11-05")
    assert s.status == "done"
    assert s.forecast == day("2026-11-13")
    assert s.completed_on == day("2026-11-13")
    assert s.ratio == 1.0


def test_empty_stage_is_on_track_with_nothing_computed():
    s = progress([], due="2026-11-01")
    assert (s.total, s.done, s.ratio, s.forecast, s.status) == (0, 0, None, None, "on_track")


def test_project_progress_counts_everything():
    p = project_progress([*SIX_OPEN_THREE_IN_WINDOW, task("X", "in_progress")])
    assert (p.total, p.done) == (11, 4)
    assert project_progress([]).ratio is None


_done_days = st.lists(
    st.dates(min_value=date(2026, 10, 1), max_value=date(2026, 11, 20)), max_size=12
)


@given(
    _done_days,
    st.integers(min_value=1, max_value=12),
    st.dates(min_value=date(2026, 11, 1), max_value=date(2026, 11, 20)),
)
def test_adding_a_done_task_never_delays_the_forecast(done_days, open_count, extra_day):
    base = [task(f"D{i}", "done", done=d.isoformat()) for i, d in enumerate(done_days)]
    base += open_tasks(open_count)
    before = progress(base)
    after = progress([*base, task("NEW", "done", done=extra_day.isoformat())])
    assert after.forecast is not None or before.forecast is None
    if before.forecast and after.forecast:
        assert after.forecast <= before.forecast
    assert after.done_in_window >= before.done_in_window


@given(_done_days, st.integers(min_value=0, max_value=12))
def test_forecast_is_never_before_today_while_work_remains(done_days, open_count):
    tasks = [task(f"D{i}", "done", done=d.isoformat()) for i, d in enumerate(done_days)]
    s = progress(tasks + open_tasks(open_count))
    if open_count and s.forecast is not None:
        assert s.forecast > TODAY
        assert CAL.is_working_day(s.forecast)
    assert s.done == len(done_days) and s.total == len(done_days) + open_count
    assert s.done_in_window == sum(1 for d in done_days if day("2026-11-09") <= d <= TODAY)


def test_window_of_one_day():
    tasks = [task("D", "done", done="2026-11-20"), *open_tasks(2)]
    s = progress(tasks, window=1)
    assert s.throughput == 1.0
    assert s.forecast == TODAY + timedelta(days=4)  # 2 working days after Fri: Tue 11-24
