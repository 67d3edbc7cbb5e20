"""Snapshots survive the trip through JSON unchanged: values, types and UTC offsets."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stagecast.models import (
    Changes,
    Document,
    Event,
    MinuteItem,
    Progress,
    RiskFlag,
    Snapshot,
    SourcePull,
    SourceStatus,
    StagePlan,
    StageProgress,
    StatusChange,
    Task,
)
from stagecast.serialize import from_dict, snapshot_from_dict, snapshot_to_dict, to_dict

texts = st.text(max_size=12)
short_tuples = st.lists(texts, max_size=3).map(tuple)
offsets = st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))
aware = st.datetimes(timezones=st.just(UTC) | offsets)
moments = st.datetimes(timezones=st.none() | st.just(UTC) | offsets)
numbers = st.floats(allow_nan=False, allow_infinity=False)
counts = st.integers(0, 10_000)


def opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Either nothing or a value, as optional model fields allow."""
    return st.none() | strategy


tasks = st.builds(
    Task,
    id=texts,
    key=texts,
    title=texts,
    source=texts,
    status=texts,
    state=st.sampled_from(["todo", "in_progress", "done"]),
    url=opt(texts),
    type=opt(texts),
    stage_values=short_tuples,
    stage=opt(texts),
    assignee=opt(texts),
    due=opt(st.dates() | moments),
    created=opt(aware),
    updated=opt(aware),
    done_at=opt(aware),
    blocked=st.booleans(),
    labels=short_tuples,
    priority=opt(texts),
    resolution=opt(texts),
    last_comment=opt(texts),
)
documents = st.builds(
    Document,
    id=texts,
    name=texts,
    source=texts,
    url=opt(texts),
    mime_type=opt(texts),
    modified=opt(aware),
)
minutes = st.builds(
    MinuteItem,
    kind=st.sampled_from(["decision", "action"]),
    text=texts,
    document=texts,
    url=opt(texts),
    date=opt(st.dates()),
    owner=opt(texts),
    due=opt(st.dates()),
    done=st.booleans(),
)
sources = st.builds(
    SourceStatus,
    name=texts,
    type=texts,
    ok=st.booleans(),
    tasks=counts,
    error=opt(texts),
    last_ok=opt(aware),
    documents=counts,
)
stages = st.builds(
    StageProgress,
    name=texts,
    key=texts,
    due=opt(st.dates()),
    total=counts,
    done=counts,
    ratio=opt(numbers),
    done_in_window=counts,
    throughput=numbers,
    forecast=opt(st.dates()),
    status=st.sampled_from(["done", "late", "at_risk", "on_track"]),
    completed_on=opt(st.dates()),
)
risks = st.builds(
    RiskFlag,
    code=texts,
    severity=st.sampled_from(["high", "medium", "low"]),
    subject=texts,
    stage=opt(texts),
    detail=texts,
    due=opt(st.dates()),
    days=opt(counts),
    remaining=opt(counts),
    total=opt(counts),
    forecast=opt(st.dates()),
    baseline=opt(counts),
    growth_pct=opt(counts),
    document=opt(texts),
    status=opt(texts),
    error=opt(texts),
)
snapshots = st.builds(
    Snapshot,
    project=texts,
    as_of=aware,
    tasks=st.lists(tasks, max_size=4).map(tuple),
    documents=st.lists(documents, max_size=2).map(tuple),
    minutes=st.lists(minutes, max_size=2).map(tuple),
    sources=st.lists(sources, max_size=2).map(tuple),
    stages=st.lists(stages, max_size=3).map(tuple),
    progress=st.builds(Progress, total=counts, done=counts, ratio=opt(numbers)),
    risks=st.lists(risks, max_size=3).map(tuple),
)


def through_json(s: Snapshot) -> Snapshot:
    """What a stored snapshot looks like after it is read back."""
    return snapshot_from_dict(json.loads(json.dumps(snapshot_to_dict(s), allow_nan=False)))


@given(snapshots)
def test_snapshot_round_trips_through_json(s: Snapshot) -> None:
    assert through_json(s) == s


@given(snapshots)
def test_round_trip_keeps_types_and_offsets(s: Snapshot) -> None:
    back = through_json(s)
    assert back.as_of.utcoffset() == s.as_of.utcoffset()
    for before, after in zip(s.tasks, back.tasks, strict=True):
        assert type(after.due) is type(before.due)
        assert isinstance(after.labels, tuple)
        if isinstance(before.due, datetime):
            assert isinstance(after.due, datetime)
            assert after.due.utcoffset() == before.due.utcoffset()
    for before_stage, after_stage in zip(s.stages, back.stages, strict=True):
        assert type(after_stage.throughput) is float
        assert type(after_stage.throughput) is type(before_stage.throughput)


changes = st.builds(
    Changes,
    added=short_tuples,
    newly_done=short_tuples,
    newly_blocked=short_tuples,
    unblocked=short_tuples,
    risks_raised=st.lists(risks, max_size=2).map(tuple),
    risks_resolved=st.lists(risks, max_size=2).map(tuple),
    stage_changes=st.lists(
        st.builds(StatusChange, stage=texts, key=texts, before=opt(texts), after=texts),
        max_size=2,
    ).map(tuple),
)
others = st.one_of(
    changes,
    st.builds(
        StagePlan,
        name=texts,
        key=texts,
        match=texts,
        due=opt(st.dates()),
        required_docs=short_tuples,
    ),
    st.builds(Event, id=texts, type=texts, resource=texts, payload=st.dictionaries(texts, texts)),
    st.builds(
        SourcePull,
        tasks=st.lists(tasks, max_size=2).map(tuple),
        documents=st.lists(documents, max_size=2).map(tuple),
        minutes=st.lists(minutes, max_size=2).map(tuple),
        stage_dues=st.dictionaries(texts, st.dates(), max_size=2),
        warnings=short_tuples,
    ),
)


@given(others)
def test_every_model_round_trips(obj: Any) -> None:
    assert from_dict(type(obj), json.loads(json.dumps(to_dict(obj)))) == obj


def small_snapshot(due: date | datetime) -> Snapshot:
    """A one-task snapshot whose only interesting part is the task's due."""
    task = Task(id="1", key="P-1", title="t", source="jira", status="Open", state="todo", due=due)
    return Snapshot(
        project="acme",
        as_of=datetime(2026, 11, 20, 18, 0, tzinfo=timezone(timedelta(hours=8))),
        tasks=(task,),
        documents=(),
        minutes=(),
        sources=(),
        stages=(),
        progress=Progress(total=1, done=0, ratio=0.0),
        risks=(),
    )


def test_date_due_stays_a_date_and_midnight_moment_stays_a_datetime() -> None:
    as_date = through_json(small_snapshot(date(2026, 11, 20))).tasks[0].due
    moment = datetime(2026, 11, 20, tzinfo=timezone(timedelta(hours=-5)))
    as_moment = through_json(small_snapshot(moment)).tasks[0].due
    assert type(as_date) is date
    assert type(as_moment) is datetime
    assert as_moment.utcoffset() == timedelta(hours=-5)


def test_encoded_form_is_readable_iso_text() -> None:
    d = snapshot_to_dict(small_snapshot(date(2026, 11, 20)))
    assert d["as_of"] == "2026-11-20T18:00:00+08:00"
    assert d["tasks"][0]["due"] == "2026-11-20"
    assert d["tasks"][0]["labels"] == []


def test_unknown_literal_value_is_refused() -> None:
    d = snapshot_to_dict(small_snapshot(date(2026, 11, 20)))
    d["tasks"][0]["state"] = "wontfix"
    with pytest.raises(ValueError, match="wontfix"):
        snapshot_from_dict(d)


def test_missing_optional_keys_take_defaults() -> None:
    d = snapshot_to_dict(small_snapshot(date(2026, 11, 20)))
    del d["tasks"][0]["labels"], d["tasks"][0]["blocked"]
    task = snapshot_from_dict(d).tasks[0]
    assert task.labels == ()
    assert task.blocked is False


def test_a_risk_stored_before_flags_carried_facts_loads_without_them() -> None:
    d = snapshot_to_dict(small_snapshot(date(2026, 11, 20)))
    d["risks"] = [
        {
            "code": "scope_creep",
            "severity": "medium",
            "subject": "Build",
            "stage": "Build",
            "detail": "13 tasks against a baseline of 10 (+30%)",
        }
    ]
    (flag,) = snapshot_from_dict(d).risks
    assert flag == RiskFlag(
        "scope_creep", "medium", "Build", "Build", "13 tasks against a baseline of 10 (+30%)"
    )
    assert flag.total is None and flag.baseline is None and flag.growth_pct is None


def test_an_action_item_stored_before_owners_and_due_dates_loads_as_open_and_unowned() -> None:
    d = snapshot_to_dict(small_snapshot(date(2026, 11, 20)))
    d["minutes"] = [
        {
            "kind": "action",
            "text": "赵强周五前提交联调方案",
            "document": "周例会纪要 2026-11-20",
            "url": None,
            "date": "2026-11-20",
            "source": "gdrive",
        }
    ]
    (item,) = snapshot_from_dict(d).minutes
    assert (item.owner, item.due, item.done) == (None, None, False)
    assert item.text == "赵强周五前提交联调方案"
