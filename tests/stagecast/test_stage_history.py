"""What a stage went through, from the snapshots: risk episodes and how each was cleared,
blocked time, scope growth, the drivers of a slip. Small hand-made histories, one fact each."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from stagecast.models import Document, Progress, RiskFlag, Snapshot, StageProgress, Task
from stagecast.stage_history import (
    blocked_tasks,
    risk_episodes,
    scope_growth,
    slip_drivers,
    stage_is_late,
    timeline,
)
from tests.builders import at, day, task, weekdays

CAL = weekdays()
STAGE = "Design"


def stage(status: str = "on_track", due: str | None = "2026-11-18", **kw: object) -> StageProgress:
    fields: dict[str, object] = dict(
        name=STAGE, key="design", due=day(due) if due else None, total=3, done=1, ratio=1 / 3,
        done_in_window=1, throughput=0.1, forecast=None, status=status,
    )  # fmt: skip
    return StageProgress(**{**fields, **kw})  # type: ignore[arg-type]


def shot(
    when: str,
    tasks: tuple[Task, ...] = (),
    risks: tuple[RiskFlag, ...] = (),
    stages: tuple[StageProgress, ...] | None = None,
    documents: tuple[Document, ...] = (),
) -> Snapshot:
    return Snapshot(
        project="acme",
        as_of=at(f"{when} 17:30"),
        tasks=tasks,
        documents=documents,
        minutes=(),
        sources=(),
        stages=(stage(),) if stages is None else stages,
        progress=Progress(len(tasks), 0, None),
        risks=risks,
    )


def card(key: str, state: str = "in_progress", **fields: object) -> Task:
    return task(key, state, stage=STAGE, **fields)


def flag(code: str, subject: str, stage_name: str | None = STAGE) -> RiskFlag:
    return RiskFlag(code, "high", subject, stage_name, code)


def episodes(*shots: Snapshot) -> list[tuple[str, str, date, date | None, str | None]]:
    *history, now = shots
    return [
        (e.flag.code, e.flag.subject, e.raised, e.cleared, e.cleared_by)
        for e in risk_episodes(now, STAGE, history, CAL)
    ]


# --- how a risk was cleared ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "before", "after", "how"),
    [
        ("blocked", card("D-1", blocked=True), card("D-1", "done"), "done"),
        ("blocked", card("D-1", blocked=True), card("D-1"), "unblocked"),
        ("blocked", card("D-1", blocked=True, assignee="Li"),
         card("D-1", blocked=True, assignee="Wang"), "reassigned"),
        ("overdue", card("D-1", due="2026-11-16"), card("D-1", due="2026-11-27"), "due_moved"),
        ("overdue", card("D-1", due="2026-11-16"), card("D-1"), "due_moved"),  # due removed
        ("unassigned", card("D-1", due="2026-11-19"), card("D-1", due="2026-11-19", assignee="Li"),
         "assigned"),
        ("unassigned", card("D-1", due="2026-11-19"), card("D-1", due="2026-12-19"), "due_moved"),
        ("stale", card("D-1", assignee="Li", updated="2026-11-01"),
         card("D-1", assignee="Wang", updated="2026-11-17"), "reassigned"),
        ("stale", card("D-1", updated="2026-11-01"), card("D-1", updated="2026-11-17"), "updated"),
        ("stale", card("D-1", updated="2026-11-01"), card("D-1", "todo", updated="2026-11-01"),
         "no_longer_applies"),
    ],
)  # fmt: skip
def test_a_task_risk_is_cleared_by_what_happened_to_its_task(code, before, after, how):
    raised = shot("2026-11-16", (before,), (flag(code, "D-1"),))
    cleared = shot("2026-11-17", (after,))
    assert episodes(raised, cleared) == [(code, "D-1", day("2026-11-16"), day("2026-11-17"), how)]


def test_a_task_gone_from_the_board_no_longer_applies():
    raised = shot("2026-11-16", (card("D-1", blocked=True),), (flag("blocked", "D-1"),))
    # D-1 is gone; its flag still concerned the stage, as the stage it was raised for says
    assert episodes(raised, shot("2026-11-17")) == [
        ("blocked", "D-1", day("2026-11-16"), day("2026-11-17"), "no_longer_applies")
    ]


@pytest.mark.parametrize(
    ("code", "before", "after", "how"),
    [
        ("stage_late", stage("late"), stage("done", completed_on=day("2026-11-17")), "stage_done"),
        ("stage_late", stage("late"), stage("on_track", due="2026-11-30"), "due_moved"),
        ("stage_at_risk", stage("at_risk"), stage("late"), "became_late"),
        ("stage_at_risk", stage("at_risk"), stage("on_track"), "back_on_track"),
        ("stage_at_risk", stage("at_risk"), stage("done"), "stage_done"),
        ("scope_creep", stage(total=5), stage(total=4), "scope_reduced"),
        ("scope_creep", stage(total=5), stage("done", total=5), "no_longer_applies"),
    ],
)
def test_a_stage_risk_is_cleared_by_what_happened_to_the_stage(code, before, after, how):
    raised = shot("2026-11-16", risks=(flag(code, STAGE),), stages=(before,))
    cleared = shot("2026-11-17", stages=(after,))
    assert episodes(raised, cleared)[0][4] == how


def test_a_missing_deliverable_is_cleared_by_the_document_being_shared():
    missing = flag("missing_deliverable", f"{STAGE}/UI spec")
    ui = Document("f1", "UI Spec v2.pdf", "drive")
    raised = shot("2026-11-16", risks=(missing,))
    assert episodes(raised, shot("2026-11-17", documents=(ui,)))[0][4] == "document_added"
    assert episodes(raised, shot("2026-11-17"))[0][4] == "no_longer_applies"


# --- runs, order, which flags ----------------------------------------------------------------


def test_each_unbroken_run_is_an_episode_and_an_open_one_has_no_end():
    blocked = (card("D-1", blocked=True),)
    free = (card("D-1"),)
    risk = (flag("blocked", "D-1"),)
    found = episodes(
        shot("2026-11-12", blocked, risk),
        shot("2026-11-13", blocked, risk),
        shot("2026-11-16", free),
        shot("2026-11-17", blocked, risk),
    )
    assert found == [
        ("blocked", "D-1", day("2026-11-12"), day("2026-11-16"), "unblocked"),
        ("blocked", "D-1", day("2026-11-17"), None, None),
    ]


def test_flags_of_the_stage_only_in_raised_order():
    other = RiskFlag("overdue", "high", "B-1", "Build", "due")
    mine = (card("D-1", blocked=True), card("D-2"))
    found = episodes(
        shot("2026-11-12", mine, (other, flag("stage_late", STAGE))),
        shot(
            "2026-11-13",
            mine,
            (
                other,
                flag("blocked", "D-1", None),
                flag("stage_late", STAGE),
            ),  # flag of a task now ours
        ),
        shot("2026-11-16", mine, (RiskFlag("source_unavailable", "high", "drive", None, "x"),)),
    )
    assert [(code, subject) for code, subject, *_ in found] == [
        ("stage_late", STAGE),
        ("blocked", "D-1"),
    ]


def test_history_order_and_the_reported_snapshot_within_it_do_not_matter():
    a = shot("2026-11-12", (card("D-1", blocked=True),), (flag("blocked", "D-1"),))
    b = shot("2026-11-13", (card("D-1"),))
    later = shot("2026-11-16", (card("D-1", blocked=True),), (flag("blocked", "D-1"),))
    assert timeline(b, [later, b, a]) == [a, b]
    assert risk_episodes(b, STAGE, [later, b, a], CAL) == risk_episodes(b, STAGE, [a], CAL)


# --- blocked time, scope, slip -------------------------------------------------------------


def test_blocked_days_count_working_days_of_each_spell():
    blocked, free = card("D-1", blocked=True), card("D-1")
    shots = [
        shot("2026-11-12", (blocked,)),  # Thu
        shot("2026-11-16", (free,)),  # Mon: Thu and Fri blocked, the weekend not
        shot("2026-11-17", (blocked,)),
        shot("2026-11-17", (blocked,)),
        shot("2026-11-19", (blocked,)),  # still blocked: 17, 18, 19
    ]
    now = replace(shots[-1], as_of=at("2026-11-19 18:00"))
    (found,) = blocked_tasks(now, STAGE, shots, CAL)
    assert (found.since, found.until, found.days) == (day("2026-11-12"), None, 5)


def test_a_spell_cleared_the_same_day_still_counts_one():
    morning = replace(
        shot("2026-11-17", (card("D-1", blocked=True),)), as_of=at("2026-11-17 09:00")
    )
    evening = shot("2026-11-17", (card("D-1"),))
    (found,) = blocked_tasks(evening, STAGE, [morning], CAL)
    assert (found.since, found.until, found.days) == (day("2026-11-17"), day("2026-11-17"), 1)


def test_a_done_task_is_not_blocked_and_the_longest_come_first():
    short = [shot("2026-11-16", (card("D-1", blocked=True), card("D-2", blocked=True)))]
    now = shot("2026-11-17", (card("D-1", "done", blocked=True), card("D-2", blocked=True)))
    assert [(b.task.key, b.days) for b in blocked_tasks(now, STAGE, short, CAL)] == [
        ("D-2", 2),
        ("D-1", 1),
    ]


def test_scope_growth_from_the_stages_first_snapshot():
    before = shot("2026-11-09", (task("X-1", stage="Build"),))  # design has no task yet
    first = shot("2026-11-10", (card("D-1"), card("D-2")))
    grown = shot("2026-11-12", (card("D-1"), card("D-2"), card("D-3")))
    now = shot("2026-11-16", (card("D-1"), card("D-3"), card("D-4")))  # D-2 dropped
    growth = scope_growth(now, STAGE, [before, first, grown], CAL)
    assert (growth.baseline, growth.final) == (2, 3)
    assert [(a.task.key, a.added) for a in growth.added] == [
        ("D-3", day("2026-11-12")),
        ("D-4", day("2026-11-16")),
    ]
    assert scope_growth(shot("2026-11-16"), STAGE, [], CAL) == type(growth)(0, 0, ())


def test_a_task_written_between_syncs_joined_when_it_was_written():
    first = shot("2026-11-06", (card("D-1"),))
    written = card("D-2", created=at("2026-11-10 09:00"))  # synced next on the 16th
    moved_in = card("D-3", created=at("2026-10-01 09:00"))  # an older task moved into the stage
    now = shot("2026-11-16", (card("D-1"), written, moved_in))
    growth = scope_growth(now, STAGE, [first], CAL)
    assert [(a.task.key, a.added) for a in growth.added] == [
        ("D-2", day("2026-11-10")),
        ("D-3", day("2026-11-16")),
    ]


def test_slip_drivers_only_for_a_late_stage():
    finished = [
        card("D-1", "done", done="2026-11-17"),  # on time
        card("D-2", "done", done="2026-11-19"),  # 1 working day late
        card("D-3", "done", done="2026-11-23 10:00"),  # Mon: 19, 20, 23
    ]
    done_late = stage("done", completed_on=day("2026-11-23"))
    now = shot("2026-11-23", tuple(finished), stages=(done_late,))
    drivers = slip_drivers(now, STAGE, [], CAL)
    assert drivers is not None and drivers.still_open == ()
    assert [(x.task.key, x.days_late) for x in drivers.finished_late] == [("D-3", 3), ("D-2", 1)]
    on_time = replace(now, stages=(stage("done", completed_on=day("2026-11-18")),))
    assert slip_drivers(on_time, STAGE, [], CAL) is None
    no_due = replace(now, stages=(stage("done", due=None, completed_on=day("2026-11-23")),))
    assert slip_drivers(no_due, STAGE, [], CAL) is None
    late_open = shot("2026-11-20", (finished[0], card("D-4")), stages=(stage("late"),))
    drivers = slip_drivers(late_open, STAGE, [], CAL)
    assert drivers is not None and [t.key for t in drivers.still_open] == ["D-4"]


@pytest.mark.parametrize(
    ("progress", "late"),
    [
        (stage("late"), True),
        (stage("done", completed_on=day("2026-11-19")), True),
        (stage("done", completed_on=day("2026-11-18")), False),
        (stage("done", due=None, completed_on=day("2026-11-19")), False),
        (stage("at_risk"), False),
    ],
)
def test_stage_is_late(progress, late):
    assert stage_is_late(progress) is late


def test_a_task_found_done_after_a_gap_in_the_syncs_ended_on_its_done_date():
    # Synced Monday the 16th with the task blocked, then not again until Friday the 27th,
    # which finds it done on Wednesday the 18th: blocked Mon–Tue, the flag cleared on the 18th.
    blocked = card("D-1", blocked=True)
    done = card("D-1", "done", done="2026-11-18 10:00")
    history = [
        shot("2026-11-16", (blocked,), (flag("blocked", "D-1"),)),
        shot("2026-11-27", (done,)),
    ]
    (spell,) = blocked_tasks(history[-1], STAGE, history, CAL)
    assert (spell.since, spell.until, spell.days) == (day("2026-11-16"), day("2026-11-18"), 2)
    (episode,) = risk_episodes(history[-1], STAGE, history, CAL)
    assert (episode.cleared, episode.cleared_by) == (day("2026-11-18"), "done")
    # A done date before the spell began (a clock skew, a back-dated resolution) never makes
    # the spell end before it started.
    early = replace(done, done_at=at("2026-11-10 10:00"))
    history[-1] = shot("2026-11-27", (early,))
    (spell,) = blocked_tasks(history[-1], STAGE, history, CAL)
    assert spell.until == day("2026-11-16") and spell.days == 1
