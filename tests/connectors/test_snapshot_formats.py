"""Snapshots stored before the format was numbered (format 0) read back unchanged after the
migration to revision 0004, on SQLite and PostgreSQL, and the project moves on in format 1.

The rows in `tests/stagecast/stored/snapshots-format-0.json` were written by the state store of
commit `captured_with` (the last before format 1), through `StateStore.save_sync` into a SQLite
database, and copied out of its `snapshots` table as they were: the demo board synced as of
2026-11-19 and 2026-11-20 17:30 (`flows.sync.sync_project`, Trello: due moments), the report
scenario's two snapshots (`tests/stagecast/reports/scenario.py`, Jira: due dates, a failed
source, every risk code, minutes), stored as project `acme-scenario`, and one snapshot of codec
edge cases (a naive and a midnight due, odd and UTC offsets, microseconds, NUL, a lone
surrogate, whole-number floats). `snapshots-format-0.repr.txt` is the `repr` of each snapshot as
it was saved, so what is expected does not depend on any codec.
"""

from __future__ import annotations

import datetime as datetime_module
import json
import zoneinfo
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from connectors.store import MIGRATIONS, StateStore, snapshot_bodies, snapshot_stages, snapshots
from stagecast import models
from stagecast.models import Snapshot
from tests.postgres import fresh_database, postgres_reachable, where

STORED = Path(__file__).parents[1] / "stagecast" / "stored"
ROWS = STORED / "snapshots-format-0.json"
EXPECTED = STORED / "snapshots-format-0.repr.txt"


def expected() -> list[Snapshot]:
    """The snapshots as they were before they were stored, from their `repr`."""
    names: dict[str, Any] = {
        name: value for name, value in vars(models).items() if isinstance(value, type)
    }
    names |= {"datetime": datetime_module, "zoneinfo": zoneinfo, "__builtins__": {}}
    found: tuple[Snapshot, ...] = eval(EXPECTED.read_text(encoding="utf-8"), names)
    return list(found)


def stored_rows() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = json.loads(ROWS.read_text(encoding="utf-8"))["rows"]
    return rows


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    if not postgres_reachable():
        pytest.skip(f"PostgreSQL not reachable at {where()}")
    with fresh_database() as found:
        yield found


def stored_as_revision_0003(url: str) -> None:
    """A database at revision 0003 holding the captured rows and their stage totals, as the
    code of then wrote them."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
            for row, snapshot in zip(stored_rows(), expected(), strict=True):
                as_of = datetime.fromisoformat(row["as_of"]).replace(tzinfo=UTC)
                assert as_of == snapshot.as_of
                values = dict(project=row["project"], as_of=as_of, stored_at=as_of)
                values |= dict(data=row["data"], emitted=row["emitted"])
                inserted = conn.execute(snapshots.insert().values(values))
                (snapshot_id,) = inserted.inserted_primary_key or ()
                totals = [
                    dict(snapshot_id=snapshot_id, stage_key=s.key, stage_name=s.name, total=s.total)
                    for s in snapshot.stages
                ]
                if totals:
                    conn.execute(snapshot_stages.insert(), totals)
    finally:
        engine.dispose()


def first_totals(snaps: list[Snapshot]) -> dict[str, int]:
    """Each stage's total in the first snapshot where it had a task: the burn-up baselines."""
    found: dict[str, int] = {}
    for snapshot in snaps:
        for stage in snapshot.stages:
            if stage.total >= 1:
                found.setdefault(stage.key, stage.total)
    return found


def by_project() -> dict[str, list[Snapshot]]:
    found: dict[str, list[Snapshot]] = {}
    for snapshot in expected():
        found.setdefault(snapshot.project, []).append(snapshot)
    return found


LATER = datetime(2027, 1, 1, tzinfo=UTC)


def test_the_fixture_holds_every_kind_of_value_the_codec_must_keep() -> None:
    raw = ROWS.read_text(encoding="utf-8")
    assert "\\\\ud800" in raw and "\\\\u0000" in raw  # escaped as the code of then wrote them
    tasks = [t for s in expected() for t in s.tasks]
    assert {type(t.due) for t in tasks} == {type(None), datetime_module.date, datetime}
    assert any(isinstance(t.due, datetime) and t.due.tzinfo is None for t in tasks)
    assert len(by_project()) == 3


def test_snapshots_stored_before_formats_read_back_equal(url: str) -> None:
    stored_as_revision_0003(url)
    with StateStore(url) as store:  # migrates to head
        with store.engine.connect() as conn:
            kept = conn.execute(sa.select(snapshots.c.format, snapshots.c.body_id)).all()
            data = list(conn.scalars(sa.select(snapshots.c.data).order_by(snapshots.c.id)))
        assert set(kept) == {(0, None)}
        assert data == [row["data"] for row in stored_rows()]  # nothing rewritten
        for project, snaps in by_project().items():
            for snapshot in snaps:
                found = store.snapshot_at(project, snapshot.as_of)
                assert found == snapshot
                assert found.as_of.utcoffset() == snapshot.as_of.utcoffset()
            assert store.history(project, LATER) == snaps
            assert store.latest_before(project, LATER) == snaps[-1]
            tz = snaps[-1].as_of.tzinfo
            assert tz is not None
            light = store.daily_history(project, LATER, tz, stages_only=True)
            assert light == [
                replace(s, tasks=(), documents=(), minutes=(), risks=()) for s in snaps
            ]
            assert store.baselines(project, LATER) == first_totals(snaps)
        assert store.emitted_at("edge-cases", expected()[-1].as_of) == {"e-1"}


def test_a_project_stored_in_format_0_moves_on_in_format_1(url: str) -> None:
    stored_as_revision_0003(url)
    before = by_project()["acme-portal"]
    last = before[-1]
    nothing_new = replace(
        last,
        as_of=last.as_of + timedelta(hours=1),
        sources=tuple(replace(s, last_ok=last.as_of + timedelta(hours=1)) for s in last.sources),
    )
    again = replace(nothing_new, as_of=nothing_new.as_of + timedelta(hours=1))
    with StateStore(url) as store:
        store.save_sync(nothing_new, [], [])
        store.save_sync(again, [], [])
        with store.engine.connect() as conn:
            formats = list(conn.scalars(sa.select(snapshots.c.format).order_by(snapshots.c.as_of)))
            shared = conn.scalar(sa.select(sa.func.count()).select_from(snapshot_bodies))
        assert store.history("acme-portal", LATER) == [*before, nothing_new, again]
        assert store.latest_before("acme-portal", again.as_of) == nothing_new
    assert formats.count(1) == 2 and formats.count(0) == 5
    assert shared == 1
