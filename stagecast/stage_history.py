"""What a stage went through, read from the project's snapshots: the risks raised and cleared
while it ran, how long its tasks were blocked, the scope it gained, and — for a stage that
slipped — what drove the slip.

A report that explains a stage (the stage report, the project wrap-up) needs the story, not
just the last state: one snapshot says a stage finished late; the snapshots before it say a
task sat blocked for a week and two tasks joined halfway. Every function here takes the
snapshot reported on and the project's other snapshots (`history`, any order; later ones and
the reported one itself are ignored), and returns facts as model values and local dates.
Pure: reports word the facts in their language and decide what an audience may see.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from natsort import natsort_keygen

from stagecast.calendar import WorkCalendar
from stagecast.models import SEVERITY_RANK, RiskFlag, Snapshot, StageProgress, Task

__all__ = [
    "AddedTask",
    "BlockedTask",
    "Clearance",
    "LateTask",
    "RiskEpisode",
    "ScopeGrowth",
    "SlipDrivers",
    "blocked_tasks",
    "risk_episodes",
    "scope_growth",
    "slip_drivers",
    "stage_is_late",
    "timeline",
]

# How a risk stopped being raised, read from the first snapshot without it.
Clearance = Literal[
    "done",  # its task was done
    "unblocked",  # its task is no longer blocked
    "assigned",  # its task got an assignee
    "reassigned",  # its task's assignee changed
    "due_moved",  # the task's or stage's due date moved
    "updated",  # a stale task saw activity
    "stage_done",  # its stage was completed
    "back_on_track",  # an at-risk stage's forecast is back within its due date
    "became_late",  # an at-risk stage passed its due date: now a late one
    "scope_reduced",  # a grown stage lost tasks
    "document_added",  # the missing deliverable is in the shared folder
    "no_longer_applies",  # none of the above (its task left the stage or was removed…)
]

_natural = natsort_keygen()


@dataclass(frozen=True)
class RiskEpisode:
    """One unbroken run of a risk flag (same code and subject) in the snapshots.

    `raised` is the local date of the first snapshot of the run, `cleared` that of the first
    snapshot without the flag (None: still raised in the reported snapshot), `cleared_by` how
    it was cleared. `flag` is the flag as last raised; `task` is its subject task as last known
    (in the snapshot that cleared it, else the last one holding it), None for stage flags.
    A run that begins with the oldest snapshot kept may have begun earlier.
    """

    flag: RiskFlag
    raised: date
    cleared: date | None
    cleared_by: Clearance | None
    task: Task | None

    @property
    def open(self) -> bool:
        return self.cleared is None


@dataclass(frozen=True)
class LateTask:
    """A task of the stage finished after the stage's due date, by `days_late` working days."""

    task: Task
    finished: date
    days_late: int


@dataclass(frozen=True)
class BlockedTask:
    """A task of the stage seen blocked: first `since`, last unblocked `until` (None: still
    blocked), for `days` working days in all (each spell counts its first day, not the day it
    cleared, and at least one)."""

    task: Task
    since: date
    until: date | None
    days: int


@dataclass(frozen=True)
class AddedTask:
    """A task that joined the stage after its first snapshot, on the local date `added`."""

    task: Task
    added: date


@dataclass(frozen=True)
class ScopeGrowth:
    """The stage's task count in its first snapshot (`baseline`, the one scope creep is
    measured against) and now (`final`), and the tasks it gained since (in the stage now)."""

    baseline: int
    final: int
    added: tuple[AddedTask, ...]


@dataclass(frozen=True)
class SlipDrivers:
    """What made a late stage late: the tasks finished after its due date (most late first),
    those still open (a stage not done yet), the tasks blocked longest, and its scope growth."""

    finished_late: tuple[LateTask, ...]
    still_open: tuple[Task, ...]
    blocked: tuple[BlockedTask, ...]
    scope: ScopeGrowth


def timeline(snapshot: Snapshot, history: Iterable[Snapshot]) -> list[Snapshot]:
    """The snapshots up to the reported one, oldest first, ending with it (a stored history
    that holds the reported snapshot too does not count it twice)."""
    earlier = [s for s in history if s.as_of < snapshot.as_of]
    return [*sorted(earlier, key=lambda s: s.as_of), snapshot]


def stage_is_late(stage: StageProgress) -> bool:
    """Late now, or completed after its due date."""
    if stage.status == "late":
        return True
    if stage.status != "done" or stage.completed_on is None or stage.due is None:
        return False
    return stage.completed_on > stage.due


# --- risk episodes ---------------------------------------------------------------------------


def risk_episodes(
    snapshot: Snapshot, stage: str, history: Iterable[Snapshot], calendar: WorkCalendar
) -> tuple[RiskEpisode, ...]:
    """Every run of a flag about the stage `stage` (its name): raised for the stage, about the
    stage, or about one of its tasks. In the order they were raised (then severity, subject,
    code), each with when and how it was cleared, or still open."""
    ordered = timeline(snapshot, history)
    own = {t.key for t in snapshot.tasks if t.stage == stage}
    runs: list[tuple[int, int | None, RiskFlag, bool]] = []
    running: dict[tuple[str, str], tuple[int, RiskFlag, bool]] = {}
    for index, shot in enumerate(ordered):
        present = {f.ident: f for f in shot.risks}
        for ident, (start, last, ours) in list(running.items()):
            if ident not in present:
                runs.append((start, index, last, ours))
                del running[ident]
        for ident, flag in present.items():
            start, _, ours = running.get(ident, (index, flag, False))
            running[ident] = (start, flag, ours or _concerns(flag, stage, own))
    runs.extend((start, None, last, ours) for start, last, ours in running.values())
    episodes = [
        _episode(ordered, start, end, flag, calendar) for start, end, flag, ours in runs if ours
    ]
    episodes.sort(
        key=lambda e: (
            e.raised,
            SEVERITY_RANK.get(e.flag.severity, 9),
            _natural(e.flag.subject),
            e.flag.code,
        )
    )
    return tuple(episodes)


def _concerns(flag: RiskFlag, stage: str, own: set[str]) -> bool:
    """Raised for the stage (its own flags, and its tasks' while they belonged to it), about
    the stage, or about a task of the stage now."""
    return flag.stage == stage or flag.subject == stage or flag.subject in own


def _episode(
    ordered: Sequence[Snapshot],
    start: int,
    end: int | None,
    flag: RiskFlag,
    calendar: WorkCalendar,
) -> RiskEpisode:
    raised = calendar.local_date(ordered[start].as_of)
    if end is None:
        return RiskEpisode(flag, raised, None, None, _task(ordered[-1], flag.subject))
    before, after = ordered[end - 1], ordered[end]
    task = _task(after, flag.subject) or _task(before, flag.subject)
    how = _how_cleared(flag, before, after)
    cleared = calendar.local_date(after.as_of)
    # Syncs can be days apart: when the source says when it ended, that is when.
    ended: date | None = None
    if how == "done" and task is not None and task.done_at is not None:
        ended = calendar.local_date(task.done_at)
    elif how == "stage_done":
        stage = _stage(after, flag.stage or flag.subject)
        ended = stage.completed_on if stage is not None else None
    if ended is not None:
        cleared = max(raised, min(cleared, ended))
    return RiskEpisode(flag, raised, cleared, how, task)


def _task(snapshot: Snapshot, key: str) -> Task | None:
    return next((t for t in snapshot.tasks if t.key == key), None)


def _stage(snapshot: Snapshot, name: str | None) -> StageProgress | None:
    return next((s for s in snapshot.stages if s.name == name), None)


def _how_cleared(flag: RiskFlag, before: Snapshot, after: Snapshot) -> Clearance:
    """Why `flag`, raised in `before`, is gone from `after`, as `after` shows it."""
    if flag.code in ("overdue", "blocked", "stale", "unassigned"):
        return _task_cleared(flag.code, _task(before, flag.subject), _task(after, flag.subject))
    if flag.code in ("stage_late", "stage_at_risk", "scope_creep"):
        name = flag.stage or flag.subject
        return _stage_cleared(flag.code, _stage(before, name), _stage(after, name))
    if flag.code == "missing_deliverable":
        document = (flag.document or flag.subject.removeprefix(f"{flag.stage}/")).casefold()
        if document and any(document in d.name.casefold() for d in after.documents):
            return "document_added"
    return "no_longer_applies"


def _task_cleared(code: str, old: Task | None, new: Task | None) -> Clearance:
    """What happened to a task flag's task: the change that ends that kind of flag first."""
    if new is None:
        return "no_longer_applies"
    if new.state == "done":
        return "done"
    if code == "blocked" and not new.blocked:
        return "unblocked"
    if code == "unassigned" and new.assignee:
        return "assigned"
    if old is not None and new.due != old.due:
        return "due_moved"
    if old is not None and new.assignee and new.assignee != old.assignee:
        return "reassigned"
    if code == "stale" and old is not None and new.updated != old.updated:
        return "updated"
    return "no_longer_applies"


def _stage_cleared(code: str, old: StageProgress | None, new: StageProgress | None) -> Clearance:
    """What happened to a stage flag's stage."""
    if new is None:
        return "no_longer_applies"
    if new.status == "done" and code != "scope_creep":
        return "stage_done"
    if code == "scope_creep":
        shrank = old is not None and new.total < old.total
        return "scope_reduced" if shrank else "no_longer_applies"
    if old is not None and new.due != old.due:
        return "due_moved"
    if code == "stage_at_risk" and new.status == "late":
        return "became_late"
    if code == "stage_at_risk" and new.status == "on_track":
        return "back_on_track"
    return "no_longer_applies"


# --- blocked time, scope growth, slip --------------------------------------------------------


def blocked_tasks(
    snapshot: Snapshot, stage: str, history: Iterable[Snapshot], calendar: WorkCalendar
) -> tuple[BlockedTask, ...]:
    """The stage's tasks that were ever seen blocked (and not done), longest blocked first."""
    ordered = timeline(snapshot, history)
    today = calendar.local_date(snapshot.as_of)
    found: list[BlockedTask] = []
    for task in (t for t in snapshot.tasks if t.stage == stage):
        spells = _blocked_spells(task.key, ordered, calendar)
        if not spells:
            continue
        days = sum(_spell_days(start, end, today, calendar) for start, end in spells)
        found.append(BlockedTask(task, spells[0][0], spells[-1][1], days))
    found.sort(key=lambda b: (-b.days, _natural(b.task.key)))
    return tuple(found)


def _blocked_spells(
    key: str, ordered: Sequence[Snapshot], calendar: WorkCalendar
) -> list[tuple[date, date | None]]:
    """The runs of snapshots in which the task was blocked: first date, and the date of the
    first snapshot that no longer showed it blocked (None: blocked to the end)."""
    spells: list[tuple[date, date | None]] = []
    start: date | None = None
    for shot in ordered:
        task = _task(shot, key)
        blocked = task is not None and task.blocked and task.state != "done"
        moment = calendar.local_date(shot.as_of)
        if blocked and start is None:
            start = moment
        elif not blocked and start is not None:
            spells.append((start, _unblocked_on(task, start, moment, calendar)))
            start = None
    if start is not None:
        spells.append((start, None))
    return spells


def _unblocked_on(task: Task | None, start: date, seen: date, calendar: WorkCalendar) -> date:
    """When a blocked spell ended: the sync that saw it over, or, when that sync found the task
    done, the day it was done (syncs can be days apart; the tracker knows)."""
    if task is None or task.state != "done" or task.done_at is None:
        return seen
    return max(start, min(seen, calendar.local_date(task.done_at)))


def _spell_days(start: date, end: date | None, today: date, calendar: WorkCalendar) -> int:
    """Working days from `start` up to the day before `end` (through today when still
    blocked); at least one, as the late days of a stage are."""
    last = today if end is None else end - timedelta(days=1)
    return max(1, calendar.working_days_after(start - timedelta(days=1), last))


def scope_growth(
    snapshot: Snapshot, stage: str, history: Iterable[Snapshot], calendar: WorkCalendar
) -> ScopeGrowth:
    """The stage's count in its first snapshot with tasks against now, and the tasks it has
    now that it did not have then, in the order they joined.

    A task joined on the date of the first snapshot that has it in the stage; or, created
    after the snapshot before that one, on its creation date: syncs can be days apart, and
    the tracker knows when the task was written.
    """
    ordered = timeline(snapshot, history)
    own = [t for t in snapshot.tasks if t.stage == stage]
    first = next((s for s in ordered if any(t.stage == stage for t in s.tasks)), None)
    if first is None:
        return ScopeGrowth(0, len(own), ())
    start = ordered.index(first)
    at_start = {t.key for t in first.tasks if t.stage == stage}
    joined: dict[str, date] = {}
    for before, shot in zip(ordered[start:], ordered[start + 1 :], strict=False):
        for task in shot.tasks:
            if task.stage == stage and task.key not in at_start and task.key not in joined:
                written = task.created is not None and task.created > before.as_of
                moment = task.created if written and task.created else shot.as_of
                joined[task.key] = calendar.local_date(moment)
    added = [AddedTask(t, joined[t.key]) for t in own if t.key in joined]
    added.sort(key=lambda a: (a.added, _natural(a.task.key)))
    return ScopeGrowth(len(at_start), len(own), tuple(added))


def slip_drivers(
    snapshot: Snapshot, stage: str, history: Iterable[Snapshot], calendar: WorkCalendar
) -> SlipDrivers | None:
    """What drove a late stage's slip (None when the stage is not late or has no due date)."""
    progress = _stage(snapshot, stage)
    if progress is None or progress.due is None or not stage_is_late(progress):
        return None
    due = progress.due
    earlier = list(history)
    own = sorted((t for t in snapshot.tasks if t.stage == stage), key=lambda t: _natural(t.key))
    late: list[LateTask] = []
    for task in own:
        if task.state != "done" or task.done_at is None:
            continue
        finished = calendar.local_date(task.done_at)
        if finished > due:
            days = max(1, calendar.working_days_after(due, finished))
            late.append(LateTask(task, finished, days))
    late.sort(key=lambda x: (-x.days_late, _natural(x.task.key)))
    return SlipDrivers(
        finished_late=tuple(late),
        still_open=tuple(t for t in own if t.state != "done"),
        blocked=blocked_tasks(snapshot, stage, earlier, calendar),
        scope=scope_growth(snapshot, stage, earlier, calendar),
    )
