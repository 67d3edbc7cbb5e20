"""Burn-up series from stored snapshots: one point per local day, stages numbered as reported."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from stagecast.burnup import BurnupPoint, burnup
from stagecast.models import Progress, Snapshot, StageProgress
from tests.builders import SHANGHAI, at, day


def stage(key: str, total: int, done: int, due: str | None = None) -> StageProgress:
    return StageProgress(
        name=f"stage {key}",
        key=key,
        due=day(due) if due else None,
        total=total,
        done=done,
        ratio=done / total if total else None,
        done_in_window=0,
        throughput=0.0,
        forecast=None,
        status="on_track",
    )


def snap(moment: datetime, *stages: StageProgress) -> Snapshot:
    return Snapshot(
        project="acme",
        as_of=moment,
        tasks=(),
        documents=(),
        minutes=(),
        sources=(),
        stages=stages,
        progress=Progress(0, 0, None),
        risks=(),
    )


def test_one_point_per_local_day_the_days_last_snapshot():
    series = burnup(
        [
            snap(at("2026-11-18 09:00"), stage("build", 8, 1)),
            snap(at("2026-11-18 17:30"), stage("build", 9, 2)),
            snap(at("2026-11-20 10:00"), stage("build", 11, 4, due="2026-12-04")),
        ],
        SHANGHAI,
    )
    assert series is not None
    (build,) = series.stages
    assert build.points == (
        BurnupPoint(day("2026-11-18"), 9, 2),
        BurnupPoint(day("2026-11-20"), 11, 4),
    )
    assert (build.number, build.due, series.as_of) == (1, day("2026-12-04"), at("2026-11-20 10:00"))


def test_days_are_the_projects_local_days_whatever_offset_was_stored():
    # 01:00 on the 20th in Shanghai, stored in UTC, is 17:00 on the 19th: it counts for the 20th.
    series = burnup(
        [
            snap(at("2026-11-19 23:00"), stage("a", 3, 1)),
            snap(at("2026-11-20 01:00").astimezone(UTC), stage("a", 3, 2)),
        ],
        SHANGHAI,
    )
    assert series is not None
    assert series.stages[0].points == (
        BurnupPoint(day("2026-11-19"), 3, 1),
        BurnupPoint(day("2026-11-20"), 3, 2),
    )


def test_stages_come_from_the_report_snapshot_numbered_in_its_order():
    series = burnup(
        [
            snap(at("2026-11-18 17:30"), stage("design", 6, 3)),
            snap(at("2026-11-19 17:30"), stage("design", 6, 4), stage("build", 9, 1)),
            snap(at("2026-11-20 17:30"), stage("design", 6, 6), stage("build", 11, 2)),
        ],
        SHANGHAI,
    )
    assert series is not None
    assert [(s.number, s.key) for s in series.stages] == [(1, "design"), (2, "build")]
    assert len(series.stages[0].points) == 3
    assert [p.day for p in series.stages[1].points] == [day("2026-11-19"), day("2026-11-20")]
    build = series.only("build")
    assert build is not None and [s.number for s in build.stages] == [2]
    assert series.only("nope") is None


def test_snapshots_in_any_order_and_no_stage_or_snapshot_is_no_series():
    a = snap(at("2026-11-19 17:30"), stage("a", 2, 1))
    b = snap(at("2026-11-20 17:30"), stage("a", 2, 2))
    assert burnup([b, a], SHANGHAI) == burnup([a, b], SHANGHAI)
    assert burnup([], SHANGHAI) is None
    assert burnup([replace(b, stages=())], SHANGHAI) is None


def test_span_holds_every_point_and_the_due_date():
    series = burnup([snap(at("2026-11-20 17:30"), stage("a", 2, 1, due="2026-11-13"))], SHANGHAI)
    assert series is not None
    assert series.stages[0].span == (day("2026-11-13"), day("2026-11-20"))


@given(
    st.lists(
        st.tuples(st.integers(0, 60 * 24 * 30), st.integers(0, 50), st.integers(0, 50)),
        min_size=1,
        max_size=40,
    )
)
def test_points_are_daily_ordered_and_done_never_exceeds_scope(moments):
    base = at("2026-11-01 00:00")
    snapshots = [
        snap(
            base.fromtimestamp(base.timestamp() + minutes * 60, SHANGHAI), stage("a", t, min(d, t))
        )
        for minutes, t, d in moments
    ]
    series = burnup(snapshots, SHANGHAI)
    assert series is not None
    days = [p.day for p in series.stages[0].points]
    assert days == sorted(set(days))
    assert len(days) == len({s.as_of.astimezone(SHANGHAI).date() for s in snapshots})
    assert all(0 <= p.done <= p.scope for p in series.stages[0].points)
