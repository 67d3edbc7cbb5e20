"""The burn-up chart's edges: the snapshots it reads from the store, and its disk cache."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.charts import ChartCache, chart_folder
from connectors.plugins import CHANNELS, shows_html
from connectors.store import StateStore
from stagecast.burnup import Burnup, burnup
from stagecast.models import Progress, Snapshot, StageProgress
from stagecast.reports.chart import chart_key, draw_png
from tests.builders import SHANGHAI, at, day
from tests.postgres import fresh_database, postgres_reachable, where


def stage(total: int, done: int) -> StageProgress:
    return StageProgress(
        name="开发",
        key="build",
        due=day("2026-12-04"),
        total=total,
        done=done,
        ratio=done / total,
        done_in_window=0,
        throughput=0.0,
        forecast=None,
        status="on_track",
    )


def snap(moment: datetime, total: int = 9, done: int = 2) -> Snapshot:
    return Snapshot(
        project="acme",
        as_of=moment,
        tasks=(),
        documents=(),
        minutes=(),
        sources=(),
        stages=(stage(total, done),),
        progress=Progress(total, done, done / total),
        risks=(),
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StateStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
        with StateStore(url) as s:
            yield s
        return
    if not postgres_reachable():
        pytest.skip(f"PostgreSQL not reachable at {where()}")
    with fresh_database() as url, StateStore(url) as s:
        yield s


# --- what the chart reads from the store ---------------------------------------------------


def test_daily_history_is_each_local_days_last_snapshot(store: StateStore) -> None:
    hourly = [at("2026-11-18 08:00") + timedelta(hours=h) for h in range(0, 64, 3)]
    for n, moment in enumerate(hourly):
        store.save_sync(snap(moment.astimezone(UTC), total=9 + n, done=n), [], [])
    store.save_sync(replace(snap(at("2026-11-19 23:30")), project="other"), [], [])
    until = at("2026-11-20 12:00")
    found = store.daily_history("acme", until, SHANGHAI)
    assert [s.as_of.astimezone(SHANGHAI) for s in found] == [
        at("2026-11-18 23:00"),
        at("2026-11-19 23:00"),
        at("2026-11-20 11:00"),
    ]
    assert {s.project for s in found} == {"acme"}
    assert [s.as_of for s in store.daily_history("acme", until, SHANGHAI, days=2)] == [
        s.as_of for s in found[1:]
    ]
    assert store.daily_history("acme", at("2026-11-01 00:00"), SHANGHAI) == []


# --- the cache -----------------------------------------------------------------------------


class Counting:
    """The real drawing, counted."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, series: Burnup) -> bytes:
        self.calls += 1
        return draw_png(series)


def series(done: int = 2) -> Burnup:
    found = burnup([snap(at("2026-11-19 17:30")), snap(at("2026-11-20 17:30"), 11, done)], SHANGHAI)
    assert found is not None
    return found


def test_drawn_once_then_read_by_every_later_run(tmp_path: Path) -> None:
    folder = chart_folder(tmp_path / "outbox")
    drawn = Counting()
    first = ChartCache(folder, drawn)(series())
    again = ChartCache(folder, drawn)(series())  # another run, another cache object
    assert first == again == draw_png(series()) and drawn.calls == 1
    assert [p.name for p in folder.iterdir()] == [f"{chart_key(series())}.png"]
    assert folder == tmp_path / "outbox" / ".charts"  # hidden from the outbox listing
    ChartCache(folder, drawn)(series(done=3))  # other figures: another image
    assert drawn.calls == 2 and len(list(folder.iterdir())) == 2


def test_an_unwritable_cache_still_gives_the_chart(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    drawn = Counting()
    assert ChartCache(blocker / ".charts", drawn)(series()).startswith(b"\x89PNG")
    assert drawn.calls == 1


def test_charts_unused_for_the_keep_period_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / ".charts"
    cache = ChartCache(folder, draw_png, keep=timedelta(days=30))
    cache(series())
    old = cache.path(series())
    month_ago = time.time() - 31 * 86_400
    os.utime(old, (month_ago, month_ago))
    cache(series(done=3))
    assert not old.exists() and cache.path(series(done=3)).exists()


def test_only_channels_that_deliver_html_get_a_chart() -> None:
    assert {t for t in CHANNELS if shows_html(t)} == {"email", "file"}
    assert not shows_html("no-such-type")


def test_a_read_only_cache_reads_what_is_there_and_writes_nothing(tmp_path: Path) -> None:
    folder = tmp_path / ".charts"
    drawn = Counting()
    assert ChartCache(folder, drawn, write=False)(series()) == draw_png(series())
    assert not folder.exists() and drawn.calls == 1  # a dry run leaves no trace
    ChartCache(folder, draw_png)(series())
    assert ChartCache(folder, drawn, write=False)(series()) == draw_png(series())
    assert drawn.calls == 1
