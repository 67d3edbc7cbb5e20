"""The state store on SQLite and, where one is reachable, PostgreSQL: each test gets its own."""

from __future__ import annotations

import gc
import json
import math
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from connectors.store import (
    LEDGER_STATES,
    MIGRATIONS,
    LedgerConflict,
    LedgerEntry,
    SourceState,
    StateStore,
    delivery_key,
    metadata,
)
from stagecast.models import Progress, Snapshot, SourceStatus, StageProgress, Task
from stagecast.serialize import snapshot_from_dict
from tests.postgres import fresh_database, postgres_reachable, where

PLUS8 = timezone(timedelta(hours=8))
MINUS5 = timezone(timedelta(hours=-5))


def at(hour: int, tz: timezone = UTC, day: int = 20) -> datetime:
    """A moment on November `day`, 2026, `hour` o'clock in `tz`."""
    return datetime(2026, 11, day, hour, tzinfo=tz)


def stage(key: str, total: int) -> StageProgress:
    """A stage with `total` tasks, none done."""
    return StageProgress(
        name=key.title(),
        key=key,
        due=None,
        total=total,
        done=0,
        ratio=0.0 if total else None,
        done_in_window=0,
        throughput=0.0,
        forecast=None,
        status="on_track",
    )


def snap(as_of: datetime, project: str = "acme", title: str = "t", **totals: int) -> Snapshot:
    """A one-task snapshot with stages of the given totals; `title` tells versions apart."""
    task = Task(id="1", key="A-1", title=title, source="jira", status="Open", state="todo")
    return Snapshot(
        project=project,
        as_of=as_of,
        tasks=(task,),
        documents=(),
        minutes=(),
        sources=(),
        stages=tuple(stage(k, n) for k, n in totals.items()),
        progress=Progress(total=1, done=0, ratio=0.0),
        risks=(),
    )


def entry(period: str = "2026-11-20", channel: str = "client", **kw: Any) -> LedgerEntry:
    """A daily-update delivery for acme."""
    key = delivery_key("acme", "daily", period, channel)
    fields: dict[str, Any] = {"status": "deferred", "content": {"title": "Daily"}} | kw
    return LedgerEntry(
        key=key, project="acme", report="daily", period=period, channel=channel, **fields
    )


def fresh_postgres_database() -> Iterator[str]:
    """A new, empty database whose session zone is +08:00, dropped afterwards."""
    if not postgres_reachable():
        pytest.skip(f"PostgreSQL not reachable at {where()}")
    with fresh_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A URL to an empty database; the SQLite file's folder does not exist yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'nested' / 'state.db'}"
    else:
        yield from fresh_postgres_database()


@pytest.fixture
def store(url: str) -> Iterator[StateStore]:
    with StateStore(url) as s:
        yield s


def count(s: StateStore, table: str) -> int:
    with s.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


# schema and migrations


def head_revision() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_open_migrates_to_head_and_matches_the_tables_in_store(store: StateStore) -> None:
    with store.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_the_head_an_open_skips_alembic_at_is_alembics_head() -> None:
    from connectors.store import HEAD_REVISION

    assert head_revision() == HEAD_REVISION


def test_a_database_behind_head_is_still_migrated_on_open(url: str) -> None:
    from alembic import command

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if url.startswith("sqlite"):
        Path(str(sa.make_url(url).database)).parent.mkdir(parents=True)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
    engine.dispose()
    with StateStore(url) as again, again.engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        assert sa.inspect(conn).has_table("snapshot_bodies")


def test_reopening_is_a_no_op_that_keeps_data(url: str) -> None:
    with StateStore(url) as first:
        first.save_sync(snap(at(10), a=3), [SourceState("jira", at(9), "c1", None)], ["e1"])
    with StateStore(url) as second:
        assert second.snapshot_at("acme", at(10)) == snap(at(10), a=3)
        assert second.emitted_at("acme", at(10)) == {"e1"}
        assert count(second, "alembic_version") == 1
        with second.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_revision() == head_revision()


def test_sqlite_folder_is_created(tmp_path: Any) -> None:
    path = tmp_path / "a" / "b" / "state.db"
    StateStore(f"sqlite:///{path}").close()
    assert path.is_file()


def test_other_backends_are_refused() -> None:
    with pytest.raises(ValueError, match="sqlite or postgresql"):
        StateStore("mysql://localhost/x")


# snapshots


def test_same_as_of_replaces_snapshot_and_stages_and_unions_emitted(store: StateStore) -> None:
    store.save_sync(snap(at(10), title="old", a=3, b=2), [], ["e1", "e2"])
    # The same instant, written in another offset.
    store.save_sync(snap(at(18, PLUS8), title="new", a=4), [], ["e2", "e3"])
    assert count(store, "snapshots") == 1
    stored = store.snapshot_at("acme", at(10))
    assert stored is not None
    assert stored.tasks[0].title == "new"
    assert stored.as_of.utcoffset() == timedelta(hours=8)
    assert store.emitted_at("acme", at(10)) == {"e1", "e2", "e3"}
    assert store.baselines("acme", at(11)) == {"a": 4}
    assert count(store, "snapshot_stages") == 1


def test_snapshot_at_matches_the_instant_in_any_offset(store: StateStore) -> None:
    store.save_sync(snap(at(18, PLUS8)), [], [])
    assert store.snapshot_at("acme", at(5, MINUS5)) == snap(at(18, PLUS8))
    assert store.snapshot_at("acme", at(11)) is None
    assert store.snapshot_at("other", at(10)) is None
    assert store.emitted_at("acme", at(11)) == set()


def test_latest_before_is_strictly_earlier_by_instant(store: StateStore) -> None:
    # Wall clocks disagree with instants: 18:00+08:00 is 10:00Z, 06:00-05:00 is 11:00Z.
    store.save_sync(snap(at(9)), [], [])
    store.save_sync(snap(at(18, PLUS8)), [], [])
    store.save_sync(snap(at(6, MINUS5)), [], [])
    store.save_sync(snap(at(8), project="other"), [], [])

    def as_of(before: datetime) -> datetime | None:
        found = store.latest_before("acme", before)
        return None if found is None else found.as_of

    assert as_of(at(12)) == at(11)
    assert as_of(at(11)) == at(10)
    assert as_of(at(5, MINUS5)) == at(9)  # 10:00Z itself is not earlier
    assert as_of(at(10) + timedelta(microseconds=1)) == at(10)
    assert as_of(at(9)) is None
    assert store.latest_before("nobody", at(12)) is None


def test_baselines_take_first_earlier_snapshot_with_tasks(store: StateStore) -> None:
    store.save_sync(snap(at(9), a=0, b=2), [], [])
    store.save_sync(snap(at(18, PLUS8), a=5, b=3), [], [])  # 10:00Z
    store.save_sync(snap(at(11), a=7, b=4, c=1), [], [])
    store.save_sync(snap(at(8), project="other", a=99), [], [])
    assert store.baselines("acme", at(12)) == {"a": 5, "b": 2, "c": 1}
    assert store.baselines("acme", at(11)) == {"a": 5, "b": 2}
    assert store.baselines("acme", at(10)) == {"b": 2}
    assert store.baselines("acme", at(9)) == {}
    assert store.baselines("other", at(12)) == {"a": 99}


def test_source_states_round_trip_and_are_replaced(store: StateStore) -> None:
    jira = SourceState("jira", at(18, PLUS8), "2026-11-20 17:59", at(1))
    trello = SourceState("trello", None, None, None)
    store.save_sync(snap(at(10)), [jira, trello], [])
    states = store.source_states("acme")
    assert states == {"jira": jira, "trello": trello}
    assert states["jira"].last_ok is not None
    assert states["jira"].last_ok.tzinfo == UTC
    later = SourceState("jira", at(11), "c2", at(1))
    store.save_sync(snap(at(11)), [later], [])
    assert store.source_states("acme") == {"jira": later, "trello": trello}
    assert store.source_states("other") == {}


def test_naive_datetimes_are_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="no timezone"):
        store.latest_before("acme", datetime(2026, 11, 20))
    with pytest.raises(ValueError, match="no timezone"):
        store.save_sync(snap(datetime(2026, 11, 20)), [], [])


def failing_ids() -> Iterator[str]:
    """Emitted ids that blow up halfway, after the snapshot rows were written."""
    yield "e9"
    raise RuntimeError("crash mid-sync")


@pytest.mark.parametrize(
    ("states", "emitted", "error"),
    [
        ([SourceState(None, at(11), "c9", None)], lambda: ["e9"], sa.exc.IntegrityError),  # type: ignore[arg-type]
        ([SourceState("jira", at(11), "c9", None)], failing_ids, RuntimeError),
    ],
    ids=["invalid-row", "exception"],
)
def test_failed_save_leaves_previous_state(
    store: StateStore,
    states: list[SourceState],
    emitted: Callable[[], Iterable[str]],
    error: type[Exception],
) -> None:
    jira = SourceState("jira", at(9), "c1", None)
    store.save_sync(snap(at(10), title="old", a=3), [jira], ["e1"])
    with pytest.raises(error):
        store.save_sync(snap(at(10), title="new", a=8, b=1), states, emitted())
    with pytest.raises(error):
        store.save_sync(snap(at(11), title="new", a=8, b=1), states, emitted())
    assert store.snapshot_at("acme", at(10)) == snap(at(10), title="old", a=3)
    assert store.emitted_at("acme", at(10)) == {"e1"}
    assert store.baselines("acme", at(12)) == {"a": 3}
    assert store.source_states("acme") == {"jira": jira}
    assert store.snapshot_at("acme", at(11)) is None
    assert count(store, "snapshots") == 1


# A report scenario's snapshot as stored before risk flags carried their facts.
BEFORE_RISK_FACTS = Path(__file__).parents[1] / "stagecast/stored/snapshot-before-risk-facts.json"


def test_a_snapshot_stored_before_risk_flags_carried_facts_still_loads(store: StateStore) -> None:
    raw = BEFORE_RISK_FACTS.read_text(encoding="utf-8")
    assert "growth_pct" not in raw
    old = snapshot_from_dict(json.loads(raw))
    store.save_sync(old, [], [])
    with store.engine.begin() as conn:  # the row as the code of then wrote it
        conn.execute(
            sa.update(metadata.tables["snapshots"]).values(data=raw, format=0, body_id=None)
        )
    for loaded in (
        store.snapshot_at("acme-portal", old.as_of),
        store.history("acme-portal", old.as_of)[-1],
    ):
        assert loaded is not None
        overdue = loaded.risks[0]
        assert (overdue.code, overdue.detail) == ("overdue", "due 2026-11-18, 2 days ago")
        assert overdue.due is None and overdue.days is None
        assert loaded == old


def test_unserializable_snapshot_stores_nothing(store: StateStore) -> None:
    bad = replace(snap(at(10)), progress=Progress(total=1, done=0, ratio=math.nan))
    with pytest.raises(ValueError):
        store.save_sync(bad, [SourceState("jira", at(10), None, None)], ["e1"])
    assert count(store, "snapshots") == 0
    assert store.source_states("acme") == {}


def test_concurrent_saves_of_one_snapshot_union_their_events(store: StateStore) -> None:
    errors: list[BaseException] = []

    def save(i: int) -> None:
        try:
            store.save_sync(
                snap(at(10), a=i), [SourceState("jira", at(10), str(i), None)], [f"e{i}"]
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.emitted_at("acme", at(10)) == {f"e{i}" for i in range(8)}
    assert count(store, "snapshots") == 1
    assert count(store, "snapshot_stages") == 1


# a sync that changed nothing


def synced(as_of: datetime, project: str = "acme", title: str = "t", **totals: int) -> Snapshot:
    """`snap` as a sync makes it: its source was read at `as_of`, so only the head differs."""
    source = SourceStatus("jira", "jira", ok=True, tasks=1, error=None, last_ok=as_of)
    return replace(snap(as_of, project, title, **totals), sources=(source,))


def bodies(s: StateStore) -> list[tuple[int, str]]:
    """The stored bodies, as (id, data)."""
    with s.engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql("SELECT id, data FROM snapshot_bodies")]


def test_an_unchanged_sync_stores_no_new_body_and_reads_back_as_itself(store: StateStore) -> None:
    first, second = synced(at(10), a=3), synced(at(18, PLUS8) + timedelta(hours=1), a=3)
    store.save_sync(first, [], ["e1"])
    stored = bodies(store)
    store.save_sync(second, [], ["e2"])
    assert bodies(store) == stored  # the body neither written again nor rewritten
    assert count(store, "snapshots") == 2
    assert store.latest_before("acme", at(12)) == second
    assert store.latest_before("acme", at(12)).as_of.utcoffset() == timedelta(hours=8)
    assert store.latest_before("acme", at(11)) == first
    assert store.snapshot_at("acme", at(11)) == second
    assert store.history("acme", at(12)) == [first, second]
    assert store.daily_history("acme", at(12), PLUS8) == [second]
    assert store.has_later_snapshot("acme", at(10))
    assert (store.emitted_at("acme", at(10)), store.emitted_at("acme", at(11))) == ({"e1"}, {"e2"})
    assert store.baselines("acme", at(12)) == {"a": 3}


def test_snapshots_sharing_a_body_share_its_decoding(store: StateStore) -> None:
    for hour in (9, 10, 11):
        store.save_sync(synced(at(hour), a=3), [], [])
    found = store.history("acme", at(12))
    assert [s.as_of for s in found] == [at(9), at(10), at(11)]
    assert found[0].tasks is found[1].tasks is found[2].tasks
    assert [s.sources[0].last_ok for s in found] == [at(9), at(10), at(11)]


def test_a_body_in_use_is_not_decoded_again_and_one_let_go_is(store: StateStore) -> None:
    store.save_sync(synced(at(9), a=3), [], [])
    store.save_sync(synced(at(10), a=3), [], [])
    previous = store.latest_before("acme", at(12))
    assert previous is not None
    assert store.history("acme", at(12))[0].tasks is previous.tasks
    assert store.snapshot_at("acme", at(9)) == synced(at(9), a=3)
    held = weakref.ref(previous)
    del previous
    gc.collect()
    assert held() is None  # the store keeps no snapshot alive: memory stays the run's own
    assert store.latest_before("acme", at(12)) == synced(at(10), a=3)


def test_a_change_stores_a_new_body_and_content_seen_before_reuses_its_own(
    store: StateStore,
) -> None:
    store.save_sync(synced(at(9), title="a"), [], [])
    store.save_sync(synced(at(10), title="b"), [], [])
    store.save_sync(synced(at(11), title="a"), [], [])  # back as it was at 9
    store.save_sync(synced(at(11), project="other", title="a"), [], [])
    assert len(bodies(store)) == 3  # acme's a and b, other's a
    assert [s.tasks[0].title for s in store.history("acme", at(12))] == ["a", "b", "a"]
    assert store.snapshot_at("other", at(11)) == synced(at(11), project="other", title="a")


def test_the_same_moment_saved_with_other_content_points_at_the_new_body(
    store: StateStore,
) -> None:
    store.save_sync(synced(at(9), title="a"), [], [])
    store.save_sync(synced(at(10), title="a"), [], [])
    store.save_sync(synced(at(10), title="b", x=1), [], [])
    assert store.snapshot_at("acme", at(9)) == synced(at(9), title="a")
    assert store.snapshot_at("acme", at(10)) == synced(at(10), title="b", x=1)
    assert store.baselines("acme", at(11)) == {"x": 1}


def test_daily_history_of_stages_only_leaves_the_tasks_undecoded(store: StateStore) -> None:
    store.save_sync(synced(at(9), a=3), [], [])
    store.save_sync(synced(at(10), title="other", a=4), [], [])
    (full,) = store.daily_history("acme", at(12), PLUS8)
    (light,) = store.daily_history("acme", at(12), PLUS8, stages_only=True)
    assert light == replace(full, tasks=(), documents=(), minutes=(), risks=())
    assert light.stages == full.stages and light.sources == full.sources


def test_concurrent_saves_of_one_content_store_it_once(store: StateStore) -> None:
    errors: list[BaseException] = []

    def save(minute: int) -> None:
        try:
            store.save_sync(synced(at(10) + timedelta(minutes=minute), a=3), [], [])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(m,)) for m in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(bodies(store)) == 1
    found = store.history("acme", at(11))
    assert found == [synced(at(10) + timedelta(minutes=m), a=3) for m in range(8)]


def test_a_snapshot_of_a_newer_format_is_refused_not_misread(store: StateStore) -> None:
    store.save_sync(synced(at(9)), [], [])
    with store.engine.begin() as conn:
        conn.execute(sa.update(metadata.tables["snapshots"]).values(format=2))
    with pytest.raises(ValueError, match="format 2, newer than this stagecast"):
        store.latest_before("acme", at(12))


# the delivery ledger


def test_record_delivery_inserts_then_returns_existing(store: StateStore) -> None:
    first = store.record_delivery(entry(not_before=at(9, PLUS8)))
    assert first.status == "deferred"
    assert first.not_before == at(1)
    assert first.not_before is not None and first.not_before.tzinfo == UTC
    assert first.id.startswith("d-")
    again = store.record_delivery(entry(status="sent", content={"title": "Other"}))
    assert again == first
    assert store.delivery(first.id) == first
    assert store.delivery("d-000000") is None
    assert count(store, "deliveries") == 1


def test_record_delivery_finds_a_new_id_when_the_short_id_is_taken(store: StateStore) -> None:
    first = store.record_delivery(entry(id="d-aaaaaa"))
    second = store.record_delivery(entry(id="d-aaaaaa", channel="team"))
    assert first.id == "d-aaaaaa"
    assert second.id != "d-aaaaaa"
    assert second.channel == "team"


def test_record_delivery_refuses_unknown_status(store: StateStore) -> None:
    with pytest.raises(ValueError, match="not a ledger state"):
        store.record_delivery(entry(status="lost"))


def test_deliveries_filter_by_status_and_project(store: StateStore) -> None:
    a = store.record_delivery(entry(period="2026-11-19", created_at=at(1)))
    b = store.record_delivery(entry(period="2026-11-20", status="sent", created_at=at(2)))
    c = store.record_delivery(entry(period="2026-11-21", created_at=at(3)))
    assert store.deliveries() == [a, b, c]
    assert store.deliveries("deferred") == [a, c]
    assert store.deliveries(project="other") == []
    with pytest.raises(ValueError):
        store.deliveries("lost")


def test_set_status_updates_fields_and_validates(store: StateStore) -> None:
    d = store.record_delivery(entry(status="awaiting_approval", created_at=at(1)))
    approved = store.set_status(d.id, "approved", decided_by="lin", decided_at=at(18, PLUS8))
    assert (approved.status, approved.decided_by, approved.decided_at) == (
        "approved",
        "lin",
        at(10),
    )
    assert approved.updated_at > d.updated_at
    assert approved.created_at == d.created_at
    store.set_status(d.id, "sending", expect={"approved"})
    sent = store.set_status(d.id, "sent", expect={"sending"}, receipt="ts-1", attempts=1)
    assert store.delivery(d.id) == sent
    assert (sent.receipt, sent.attempts, sent.content) == ("ts-1", 1, {"title": "Daily"})
    with pytest.raises(LedgerConflict):
        store.set_status(d.id, "sending", expect="approved")
    with pytest.raises(LedgerConflict):
        store.set_status(d.id, "sending", expect="sending")
    with pytest.raises(ValueError, match="not a ledger state"):
        store.set_status(d.id, "gone")
    with pytest.raises(TypeError, match="key"):
        store.set_status(d.id, "failed", key="x")
    with pytest.raises(KeyError):
        store.set_status("d-missing", "failed")
    assert store.delivery(d.id) == sent


def test_a_claim_on_a_stale_reading_is_refused(store: StateStore) -> None:
    """A worker read a failure due again; meanwhile another worker tried it and it failed for
    good: the first worker's claim, made on its old reading, is refused."""
    read = store.record_delivery(entry(status="failed", retryable=True))
    lease = timedelta(minutes=10)
    store.claim(read.id, expect="failed", lease=lease, unchanged_since=read.updated_at)
    store.set_status(read.id, "failed", expect="sending", retryable=False)
    with pytest.raises(LedgerConflict, match="changed since it was read"):
        store.claim(read.id, expect="failed", lease=lease, unchanged_since=read.updated_at)
    again = store.delivery(read.id)
    assert (again.status, again.retryable) == ("failed", False)
    claimed = store.claim(read.id, expect="failed", lease=lease, unchanged_since=again.updated_at)
    assert claimed.status == "sending"


def test_every_ledger_state_is_storable(store: StateStore) -> None:
    for status in sorted(LEDGER_STATES):
        d = store.record_delivery(entry(period=status, status=status, last_error=status))
        assert store.delivery(d.id) == d
        assert d.status == status


def test_moves_the_ledger_rules_forbid_are_refused(store: StateStore) -> None:
    rejected = store.record_delivery(entry(status="awaiting_approval"))
    store.set_status(rejected.id, "rejected", decided_by="lin")
    with pytest.raises(LedgerConflict, match="cannot go from rejected to sending"):
        store.set_status(rejected.id, "sending")
    deferred = store.record_delivery(entry(period="2026-11-21"))
    with pytest.raises(LedgerConflict, match="cannot go from deferred to sent"):
        store.set_status(deferred.id, "sent")  # only a claimed (sending) delivery is sent
    assert store.delivery(deferred.id).status == "deferred"


def test_the_flow_run_behind_a_delivery_is_kept(store: StateStore) -> None:
    d = store.record_delivery(entry(status="awaiting_approval", flow_run="0f0e-run"))
    assert store.delivery(d.id).flow_run == "0f0e-run"


def test_concurrent_record_of_one_key_keeps_one(store: StateStore) -> None:
    results: list[LedgerEntry] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.record_delivery(entry())))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.id for r in results}) == 1
    assert len(results) == 6
    assert count(store, "deliveries") == 1


def test_delivery_key_cannot_collide() -> None:
    assert delivery_key("a|b", "c", "d", "e") != delivery_key("a", "b|c", "d", "e")
    assert delivery_key("acme", "alert", "late|x%y", "team") == "acme|alert|late%7Cx%25y|team"


def test_history_is_oldest_first_up_to_and_including_until(store):
    for when in (
        "2026-11-18T10:00:00+08:00",
        "2026-11-20T10:00:00+08:00",
        "2026-11-19T10:00:00+08:00",
        "2026-11-21T10:00:00+08:00",
    ):
        store.save_sync(_history_snapshot(when), [], [])
    found = store.history("acme", datetime.fromisoformat("2026-11-20T02:00:00+00:00"))
    assert [s.as_of.isoformat() for s in found] == [
        "2026-11-18T10:00:00+08:00",
        "2026-11-19T10:00:00+08:00",
        "2026-11-20T10:00:00+08:00",
    ]
    assert (
        store.history("acme", datetime.fromisoformat("2026-11-21T10:00:00+08:00"), limit=1)[
            0
        ].as_of.isoformat()
        == "2026-11-21T10:00:00+08:00"
    )
    assert store.history("other", datetime.fromisoformat("2026-11-21T10:00:00+08:00")) == []


def _history_snapshot(when: str) -> Snapshot:
    return Snapshot(
        "acme", datetime.fromisoformat(when), (), (), (), (), (), Progress(0, 0, None), ()
    )
