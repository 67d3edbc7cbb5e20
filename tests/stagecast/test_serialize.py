"""Snapshots survive the trip through JSON unchanged: values, types and UTC offsets, in the
stored format (head and body apart) and as one JSON object (format 0, and `to_dict`)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
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
from stagecast.serialize import (
    decode,
    decode_body,
    decode_parts,
    decode_stages_only,
    encode,
    encode_parts,
    from_dict,
    snapshot_from_dict,
    snapshot_to_dict,
    to_dict,
)

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
    encoded = encode_parts(s)
    return decode_parts(encoded.head, decode_body(encoded.body))


def through_format_0(s: Snapshot) -> Snapshot:
    """A snapshot written as one object, as the store did before formats were numbered."""
    text = json.dumps(snapshot_to_dict(s), ensure_ascii=True, allow_nan=False)
    return decode(text, Snapshot)


@given(snapshots)
def test_snapshot_round_trips_through_json(s: Snapshot) -> None:
    assert through_json(s) == s
    assert through_format_0(s) == s
    assert snapshot_from_dict(json.loads(json.dumps(snapshot_to_dict(s)))) == s


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
    assert decode(encode(obj), type(obj)) == obj


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


def test_the_stored_head_is_what_every_sync_changes_and_the_body_the_rest() -> None:
    encoded = encode_parts(small_snapshot(date(2026, 11, 20)))
    assert json.loads(encoded.head) == {"as_of": "2026-11-20T18:00:00+08:00", "sources": []}
    body = json.loads(encoded.body)
    assert "as_of" not in body and "sources" not in body
    assert body["tasks"][0]["due"] == "2026-11-20"


def test_stages_only_leaves_tasks_and_the_rest_empty() -> None:
    s = small_snapshot(date(2026, 11, 20))
    encoded = encode_parts(s)
    light = decode_parts(encoded.head, decode_stages_only(encoded.body))
    assert light == replace(s, tasks=())
    assert light.progress == s.progress


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_not_stored_as_null(bad: float) -> None:
    s = replace(small_snapshot(date(2026, 11, 20)), progress=Progress(total=1, done=0, ratio=bad))
    with pytest.raises(ValueError, match="NaN or an infinity"):
        encode_parts(s)
    with pytest.raises(ValueError, match="NaN or an infinity"):
        encode(replace(s, progress=Progress(1, 0, None), stages=(stage_with(throughput=bad),)))


def stage_with(throughput: float) -> StageProgress:
    return StageProgress("Build", "build", None, 1, 0, 0.0, 0, throughput, None, "on_track")


def test_text_with_a_lone_surrogate_or_nul_survives() -> None:
    task = replace(small_snapshot(date(2026, 11, 20)).tasks[0], title="bad \ud83d emoji \x00 end")
    s = replace(small_snapshot(date(2026, 11, 20)), tasks=(task,))
    assert through_json(s) == s
    assert through_format_0(s) == s
    assert "\\ud83d" in encode_parts(s).body  # as an ASCII escape: UTF-8 cannot carry it


def test_utc_and_odd_offsets_and_microseconds_keep_their_instant_and_offset() -> None:
    odd = timezone(-timedelta(hours=9, minutes=30))
    for as_of in (
        datetime(2026, 11, 20, 9, 15, 30, 123456, tzinfo=UTC),
        datetime(2026, 11, 20, 9, 15, tzinfo=odd),
    ):
        back = through_json(replace(small_snapshot(date(2026, 11, 20)), as_of=as_of))
        assert (back.as_of, back.as_of.utcoffset()) == (as_of, as_of.utcoffset())


def test_a_stored_text_where_a_number_belongs_is_refused() -> None:
    encoded = encode_parts(small_snapshot(date(2026, 11, 20)))
    body = json.loads(encoded.body)
    body["progress"]["total"] = "1"
    with pytest.raises(ValueError, match=r"\$\.progress\.total"):
        decode_body(json.dumps(body))
