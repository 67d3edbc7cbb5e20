"""Burn-up series: each stage's scope and done tasks over time, from the stored snapshots.

A snapshot already holds every stage's counts at its moment, so the series is read from the
project's snapshots rather than rebuilt from task dates: scope that grew and shrank shows as it
was seen, and so do tasks reopened. One point per local date (the day's last snapshot), since
a report reads in days and a project synced hourly would otherwise draw 24 points a day.

Pure: plain dataclasses in and out; drawing is `stagecast.reports.chart`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo

from stagecast.models import Snapshot

__all__ = ["Burnup", "BurnupPoint", "StageBurnup", "burnup"]


@dataclass(frozen=True)
class BurnupPoint:
    """A stage on one local date: every task it had (scope) and how many were done."""

    day: date
    scope: int
    done: int


@dataclass(frozen=True)
class StageBurnup:
    """One stage's series. `number` is its place in the report's stage table (1..n): the only
    name the image gives it, so the image carries no text in any language."""

    number: int
    key: str
    name: str
    due: date | None
    points: tuple[BurnupPoint, ...]

    @property
    def span(self) -> tuple[date, date] | None:
        """The first and last date its panel shows: every point, and the due date, fit in."""
        days = [p.day for p in self.points] + ([self.due] if self.due else [])
        return (min(days), max(days)) if days else None


@dataclass(frozen=True)
class Burnup:
    """Every stage's series at the report's snapshot, in the snapshot's stage order."""

    project: str
    as_of: datetime
    stages: tuple[StageBurnup, ...]

    def only(self, key: str) -> Burnup | None:
        """Just one stage (by key), keeping its number; None when there is no such stage."""
        chosen = tuple(s for s in self.stages if s.key == key)
        return replace(self, stages=chosen) if chosen else None


def burnup(snapshots: Iterable[Snapshot], tz: tzinfo) -> Burnup | None:
    """The series up to the last of `snapshots` (given oldest first, the report's own last).

    The stages are the last snapshot's (its names, its due dates); a stage missing from an
    earlier snapshot simply starts later. None when there is no snapshot or no stage.
    """
    by_day: dict[date, Snapshot] = {}
    for snapshot in sorted(snapshots, key=lambda s: s.as_of):
        by_day[snapshot.as_of.astimezone(tz).date()] = snapshot  # the day's last one wins
    if not by_day:
        return None
    latest = by_day[max(by_day)]
    if not latest.stages:
        return None
    stages = tuple(
        StageBurnup(
            number=number,
            key=stage.key,
            name=stage.name,
            due=stage.due,
            points=_points(stage.key, by_day),
        )
        for number, stage in enumerate(latest.stages, start=1)
    )
    return Burnup(latest.project, latest.as_of, stages)


def _points(key: str, by_day: dict[date, Snapshot]) -> tuple[BurnupPoint, ...]:
    """The stage's counts on each day a snapshot of it exists, in date order."""
    points = []
    for day in sorted(by_day):
        found = next((s for s in by_day[day].stages if s.key == key), None)
        if found is not None:
            points.append(BurnupPoint(day, found.total, found.done))
    return tuple(points)
