"""Changes between snapshots and the events they imply (SPEC §6)."""

from __future__ import annotations

import dataclasses

from stagecast.changes import (
    PROJECT_COMPLETED,
    RISK_RAISED,
    STAGE_COMPLETED,
    compare,
    events_for,
)
from stagecast.models import Progress, RiskFlag, Snapshot, StageProgress
from tests.builders import at, task


def stage(status: str, key: str = "design", name: str = "设计评审") -> StageProgress:
    return StageProgress(
        name, key, None, 2, 2 if status == "done" else 1, None, 0, 0.0, None, status
    )  # type: ignore[arg-type]


def snap(when: str, tasks=(), stages=(), risks=()) -> Snapshot:
    return Snapshot(
        "acme",
        at(when),
        tuple(tasks),
        (),
        (),
        (),
        tuple(stages),
        Progress(len(tasks), 0, None),
        tuple(risks),
    )


RISK = RiskFlag("overdue", "high", "P-1", None, "due 2026-11-19, 1 day ago")


def test_first_snapshot_has_no_changes_and_no_events():
    first = snap("2026-11-19 18:00", [task("P-1")], [stage("done")], [RISK])
    changes = compare(None, first)
    assert changes == compare(None, first) and not changes.added and not changes.stage_changes
    assert events_for(first, changes) == []


def test_task_changes():
    before = snap("2026-11-19 18:00", [task("P-1"), task("P-2", blocked=True), task("P-3")])
    after = snap(
        "2026-11-20 18:00",
        [
            task("P-1", "done", done="2026-11-20"),
            task("P-2"),
            task("P-3", blocked=True),
            task("P-4"),
        ],
    )
    c = compare(before, after)
    assert c.added == ("P-4",)
    assert c.newly_done == ("P-1",)
    assert c.newly_blocked == ("P-3",)
    assert c.unblocked == ("P-2",)


def test_stage_completion_emits_one_event_with_a_stable_id():
    build = stage("on_track", "build", "开发")
    before = snap("2026-11-19 18:00", stages=[stage("on_track"), build])
    after = snap("2026-11-20 18:00", stages=[stage("done"), build])
    events = events_for(after, compare(before, after))
    assert [(e.type, e.resource, e.payload) for e in events] == [
        (
            STAGE_COMPLETED,
            "stagecast.project.acme.stage.design",
            {"project": "acme", "stage": "设计评审"},
        )
    ]
    again = events_for(after, compare(before, after))
    assert again[0].id == events[0].id
    same_instant = dataclasses.replace(after, as_of=at("2026-11-20T10:00:00+00:00"))
    assert events_for(same_instant, compare(before, same_instant))[0].id == events[0].id
    later = dataclasses.replace(after, as_of=at("2026-11-21 18:00"))
    assert events_for(later, compare(before, later))[0].id != events[0].id


def test_the_last_stage_to_finish_completes_the_project_once():
    design, build = stage("done"), stage("on_track", "build", "开发")
    before = snap("2026-11-19 18:00", stages=[design, build])
    after = snap("2026-11-20 18:00", stages=[design, stage("done", "build", "开发")])
    events = events_for(after, compare(before, after))
    assert [(e.type, e.resource, e.payload) for e in events] == [
        (
            STAGE_COMPLETED,
            "stagecast.project.acme.stage.build",
            {"project": "acme", "stage": "开发"},
        ),
        (PROJECT_COMPLETED, "stagecast.project.acme", {"project": "acme"}),
    ]
    assert events_for(after, compare(before, after))[1].id == events[1].id
    # A day later nothing moves: no second wrap-up.
    later = snap("2026-11-21 18:00", stages=after.stages)
    assert events_for(later, compare(after, later)) == []


def test_the_final_stage_done_while_an_earlier_one_is_open_completes_no_project():
    design, launch = stage("late"), stage("on_track", "launch", "上线")
    before = snap("2026-11-19 18:00", stages=[design, launch])
    after = snap("2026-11-20 18:00", stages=[design, stage("done", "launch", "上线")])
    assert [e.type for e in events_for(after, compare(before, after))] == [STAGE_COMPLETED]
    # …and when the earlier one finishes, the project is complete.
    final = snap("2026-11-23 18:00", stages=[stage("done"), after.stages[1]])
    assert [e.type for e in events_for(final, compare(after, final))] == [
        STAGE_COMPLETED,
        PROJECT_COMPLETED,
    ]


def test_a_stage_that_stays_done_emits_nothing():
    before = snap("2026-11-19 18:00", stages=[stage("done")])
    after = snap("2026-11-20 18:00", stages=[stage("done")])
    assert events_for(after, compare(before, after)) == []


def test_risks_raised_and_resolved():
    other = RiskFlag("stale", "medium", "P-2", None, "no update for 9 days")
    before = snap("2026-11-19 18:00", risks=[other])
    after = snap("2026-11-20 18:00", risks=[dataclasses.replace(RISK, detail="changed text")])
    c = compare(before, after)
    assert [f.ident for f in c.risks_raised] == [("overdue", "P-1")]
    assert [f.ident for f in c.risks_resolved] == [("stale", "P-2")]
    (event,) = events_for(after, c)
    assert event.type == RISK_RAISED and event.resource == "stagecast.project.acme"
    assert event.payload == {
        "project": "acme",
        "code": "overdue",
        "severity": "high",
        "subject": "P-1",
    }


def test_an_ongoing_risk_with_new_detail_is_not_raised_again():
    before = snap("2026-11-19 18:00", risks=[RISK])
    after = snap("2026-11-20 18:00", risks=[dataclasses.replace(RISK, detail="2 days ago")])
    assert compare(before, after).risks_raised == ()
