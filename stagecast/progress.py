"""Stage progress, throughput, forecast and status (SPEC §4).

All arithmetic on counts is integer arithmetic so that the same data gives the same forecast on
every machine; only `ratio` and `throughput` are floats, and only for display.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from stagecast.calendar import WorkCalendar
from stagecast.models import Progress, StagePlan, StageProgress, StageStatus, Task


def ratio(done: int, total: int) -> float | None:
    """done/total, or None when there is nothing to count."""
    return done / total if total else None


def project_progress(tasks: Sequence[Task]) -> Progress:
    """Every task counts for the project, staged or not."""
    done = sum(1 for t in tasks if t.state == "done")
    return Progress(total=len(tasks), done=done, ratio=ratio(done, len(tasks)))


def stage_progress(
    plan: StagePlan,
    tasks: Sequence[Task],
    calendar: WorkCalendar,
    today: date,
    window_days: int,
    horizon_days: int,
) -> StageProgress:
    """Compute one stage's figures from its own tasks at the evaluation date `today`."""
    done_dates = [calendar.local_date(t.done_at) for t in tasks if t.state == "done" and t.done_at]
    done = sum(1 for t in tasks if t.state == "done")
    remaining = len(tasks) - done
    window_start = calendar.last_working_days(today, window_days)[0]
    done_in_window = sum(1 for d in done_dates if window_start <= d <= today)
    completed_on = max(done_dates) if tasks and not remaining and done_dates else None
    forecast = _forecast(remaining, done_in_window, window_days, completed_on, calendar, today)
    status = _status(len(tasks), remaining, plan.due, forecast, calendar, today, horizon_days)
    return StageProgress(
        name=plan.name,
        key=plan.key,
        due=plan.due,
        total=len(tasks),
        done=done,
        ratio=ratio(done, len(tasks)),
        done_in_window=done_in_window,
        throughput=done_in_window / window_days,
        forecast=forecast,
        status=status,
        completed_on=completed_on,
        required_docs=plan.required_docs,
    )


def _forecast(
    remaining: int,
    done_in_window: int,
    window_days: int,
    completed_on: date | None,
    calendar: WorkCalendar,
    today: date,
) -> date | None:
    """Finished: when it finished; moving: today plus the working days the pace implies."""
    if remaining == 0:
        return completed_on
    if done_in_window == 0:
        return None
    days = -(-remaining * window_days // done_in_window)  # ceil in integers
    return calendar.add_working_days(today, days)


def _status(
    total: int,
    remaining: int,
    due: date | None,
    forecast: date | None,
    calendar: WorkCalendar,
    today: date,
    horizon_days: int,
) -> StageStatus:
    """The first rule that applies: done, late, at_risk, on_track."""
    if total > 0 and remaining == 0:
        return "done"
    if due is None:
        return "on_track"
    if remaining > 0 and due < today:
        return "late"
    if forecast is not None and forecast > due:
        return "at_risk"
    if forecast is None and remaining > 0 and due <= calendar.add_working_days(today, horizon_days):
        return "at_risk"
    return "on_track"
