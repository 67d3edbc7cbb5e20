"""The problems a stage met, as report lines for one audience (SPEC §7 "problems met and how
they were solved"): its problem tasks, the risks raised and cleared while it ran, and — when
it slipped — what drove the slip.

`stage_problems` is the one entry point, over (snapshot, stage, history), so every report
that explains stages (the stage report, the project wrap-up) tells the same story. The facts
come from `stagecast.stage_history`; what a client may see is decided here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, TypeVar

from stagecast.calendar import WorkCalendar
from stagecast.models import Snapshot, StageProgress, Task
from stagecast.reports.context.common import (
    Audience,
    Listing,
    RiskLine,
    RiskLines,
    TaskLine,
    TaskLines,
    audience_sees,
    is_internal,
    key_order,
    tasks_by_key,
)
from stagecast.reports.escape import clip, source_text
from stagecast.stage_history import (
    Clearance,
    RiskEpisode,
    risk_episodes,
    slip_drivers,
    stage_is_late,
    timeline,
)

__all__ = [
    "BLOCKED_LIMIT",
    "PROBLEM_TYPES",
    "AddedTaskLine",
    "BlockedTaskLine",
    "LateTaskLine",
    "OpenTaskLine",
    "ProblemLine",
    "RiskEpisodeLine",
    "SlipLines",
    "StageProblems",
    "is_problem_type",
    "stage_problems",
    "stage_span",
]

Day = date

# Task types that are problems by nature (compared case-insensitively).
PROBLEM_TYPES = frozenset({"bug", "problem", "incident", "impediment", "问题"})
# "The tasks blocked longest": the few that cost most, not every task ever blocked.
BLOCKED_LIMIT = 5


@dataclass(frozen=True)
class ProblemLine:
    """A problem met during a stage: the task, how it ended, and its last comment.

    `resolution` is the source's own resolution when it has one; else `done` says whether the
    problem is solved.
    """

    task: TaskLine
    resolution: str | None
    done: bool
    comment: str | None


# Every line below names a task; `named_above` says an earlier line of the problems section
# named it in full already, so the line names it briefly: its key and the start of its title
# (`BRIEF_TITLE` characters), no assignee. One task can be a problem, the subject of two
# risks, late, and blocked longest: said in full once, it reads better, and one card with a
# very long title cannot fill a chat post five times over.
BRIEF_TITLE = 20


@dataclass(frozen=True)
class RiskEpisodeLine:
    """A risk the stage met: what (`risk`: code, severity, subject and its task), raised when,
    cleared when (None: still open) and how (`cleared_by`, a `stagecast.stage_history.Clearance`:
    done, unblocked, assigned, reassigned, due_moved, updated, stage_done, back_on_track,
    became_late, scope_reduced, document_added, no_longer_applies)."""

    risk: RiskLine
    raised: Day
    cleared: Day | None
    cleared_by: Clearance | None
    named_above: bool = False


@dataclass(frozen=True)
class LateTaskLine:
    """A task finished after the stage's due date, `days_late` working days after it."""

    task: TaskLine
    finished: Day
    days_late: int
    named_above: bool = False


@dataclass(frozen=True)
class OpenTaskLine:
    """A task of a late stage not done yet."""

    task: TaskLine
    named_above: bool = False


@dataclass(frozen=True)
class BlockedTaskLine:
    """A task seen blocked from `since` to `until` (None: still blocked), `days` working days."""

    task: TaskLine
    since: Day
    until: Day | None
    days: int
    named_above: bool = False


@dataclass(frozen=True)
class AddedTaskLine:
    """A task that joined the stage after its first snapshot, on `added`."""

    task: TaskLine
    added: Day
    named_above: bool = False


@dataclass(frozen=True)
class SlipLines:
    """What drove a late stage's slip: tasks finished after the due date (most late first),
    tasks still open (a stage not done yet), the tasks blocked longest, and the tasks added
    after the stage's first snapshot, which held `baseline` tasks against `final` now. The
    counts include tasks the audience does not see listed."""

    finished_late: Listing[LateTaskLine]
    still_open: Listing[OpenTaskLine]
    blocked: Listing[BlockedTaskLine]
    added: Listing[AddedTaskLine]
    baseline: int
    final: int

    def __bool__(self) -> bool:
        return bool(self.finished_late or self.still_open or self.blocked or self.added)


@dataclass(frozen=True)
class StageProblems:
    """The problems a stage met, for one audience.

    `no_problems` only when the stage was on time (or is not late yet) and never had a risk
    nor a problem task, whatever the audience sees: it is what allows a report to say "no
    problems were met". `internal_only` when there were problems but none this audience may
    see (a client, when every one was an internal matter).
    """

    problems: tuple[ProblemLine, ...]
    risks: Listing[RiskEpisodeLine]
    slip: SlipLines | None
    no_problems: bool
    internal_only: bool


def stage_span(
    snapshot: Snapshot, stage_key: str, calendar: WorkCalendar
) -> tuple[Day | None, Day]:
    """The stage's span (SPEC §7): from the previous stage's completion (or its first task's
    creation; None when unknown) to its completion, or the snapshot's date while it is open."""
    index = [s.key for s in snapshot.stages].index(stage_key)
    progress = snapshot.stages[index]
    done = progress.status == "done" and progress.completed_on is not None
    end = (
        progress.completed_on
        if done and progress.completed_on
        else calendar.local_date(snapshot.as_of)
    )
    if index > 0:
        return snapshot.stages[index - 1].completed_on, end
    own = [t for t in snapshot.tasks if t.stage == progress.name and t.created is not None]
    created = [calendar.local_date(t.created) for t in own if t.created is not None]
    return (min(created) if created else None), end


def stage_problems(
    snapshot: Snapshot,
    stage_key: str,
    history: Iterable[Snapshot],
    *,
    audience: Audience,
    calendar: WorkCalendar,
) -> StageProblems:
    """The problems the stage `stage_key` met up to `snapshot`, from the project's snapshots
    (`history`, any order): problem tasks, risk episodes, and slip drivers when it is late."""
    progress = next(s for s in snapshot.stages if s.key == stage_key)
    earlier = list(history)
    ordered = timeline(snapshot, earlier)
    client = audience == "client"
    lines = TaskLines(calendar, show_names=not client)
    known: dict[str, Task] = {}
    for shot in ordered:
        known.update(tasks_by_key(shot.tasks))

    def visible(task: Task) -> bool:
        return not (client and is_internal(task))

    problem_tasks = _problem_tasks(snapshot, progress, stage_key, ordered, calendar)
    episodes = risk_episodes(snapshot, progress.name, earlier, calendar)
    risk_lines = RiskLines(lines, tasks_by_key(snapshot.tasks), known)
    shown = [e for e in episodes if audience_sees(e.flag, client, known)]
    problems = tuple(problem_line(t, lines) for t in problem_tasks if visible(t))
    named = {p.task.key for p in problems}
    risks = _named(Listing.of(_episode_line(e, risk_lines, lines) for e in shown), named)
    slip = _slip_lines(snapshot, progress.name, earlier, calendar, lines, visible)
    if slip is not None:
        slip = replace(
            slip,
            finished_late=_named(slip.finished_late, named),
            still_open=_named(slip.still_open, named),
            blocked=_named(slip.blocked, named),
            added=_named(slip.added, named),
        )
    no_problems = not (stage_is_late(progress) or episodes or problem_tasks)
    return StageProblems(
        problems=problems,
        risks=risks,
        slip=slip,
        no_problems=no_problems,
        internal_only=not no_problems and not (problems or risks or slip),
    )


def _problem_tasks(
    snapshot: Snapshot,
    progress: StageProgress,
    stage_key: str,
    ordered: list[Snapshot],
    calendar: WorkCalendar,
) -> list[Task]:
    """Tasks of the stage of a problem type, or blocked at some snapshot of its span."""
    start, end = stage_span(snapshot, stage_key, calendar)
    own = sorted((t for t in snapshot.tasks if t.stage == progress.name), key=key_order)
    keys = {t.key for t in own}
    blocked = {t.key for t in own if t.blocked}
    for shot in ordered:
        moment = calendar.local_date(shot.as_of)
        if (start is None or start <= moment) and moment <= end:
            blocked.update(t.key for t in shot.tasks if t.blocked and t.key in keys)
    return [t for t in own if is_problem_type(t) or t.key in blocked]


def is_problem_type(task: Task) -> bool:
    """A Bug, Problem, Incident, Impediment or 问题 (SPEC §7)."""
    return (task.type or "").strip().casefold() in PROBLEM_TYPES


def problem_line(task: Task, lines: TaskLines) -> ProblemLine:
    """A problem task, how it ended and its last comment."""
    return ProblemLine(
        task=lines.of(task),
        resolution=source_text(task.resolution) if task.resolution else None,
        done=task.state == "done",
        comment=source_text(task.last_comment) if task.last_comment else None,
    )


Line = TypeVar("Line")


def _named(listing: Listing[Line], named: set[str]) -> Listing[Line]:
    """The listing with its lines of a task `named` holds named briefly, and `named` grown
    by the tasks it shows."""
    marked: list[Line] = []
    for line in listing.items:
        task = _task_of(line)
        if task is not None and task.key in named:
            line = _briefly(line)
        marked.append(line)
        if task is not None:
            named.add(task.key)
    return Listing(tuple(marked), listing.more)


def _task_of(line: object) -> TaskLine | None:
    """The task a line names: a risk's subject task, or the line's own."""
    if isinstance(line, RiskEpisodeLine):
        return line.risk.task
    task = getattr(line, "task", None)
    return task if isinstance(task, TaskLine) else None


def _briefly(line: Any) -> Any:
    """The line of a task named above: marked, with the start of its title only."""
    if isinstance(line, RiskEpisodeLine) and line.risk.task is not None:
        task = replace(line.risk.task, title=_brief(line.risk.task.title))
        return replace(line, risk=replace(line.risk, task=task), named_above=True)
    task = replace(line.task, title=_brief(line.task.title))
    return replace(line, task=task, named_above=True)


def _brief(title: str) -> str:
    return source_text(clip(title, BRIEF_TITLE))


def _episode_line(episode: RiskEpisode, risks: RiskLines, lines: TaskLines) -> RiskEpisodeLine:
    """The flag as a risk line, naming its task as it was when the risk ended."""
    line = risks.of(episode.flag)
    if episode.task is not None and line.task is not None:
        line = replace(line, task=lines.of(episode.task))
    return RiskEpisodeLine(line, episode.raised, episode.cleared, episode.cleared_by)


def _slip_lines(
    snapshot: Snapshot,
    stage: str,
    history: list[Snapshot],
    calendar: WorkCalendar,
    lines: TaskLines,
    visible: Callable[[Task], bool],
) -> SlipLines | None:
    drivers = slip_drivers(snapshot, stage, history, calendar)
    if drivers is None:
        return None
    return SlipLines(
        finished_late=Listing.of(
            LateTaskLine(lines.of(x.task), x.finished, x.days_late)
            for x in drivers.finished_late
            if visible(x.task)
        ),
        still_open=Listing.of(OpenTaskLine(lines.of(t)) for t in drivers.still_open if visible(t)),
        blocked=Listing.of(
            (
                BlockedTaskLine(lines.of(b.task), b.since, b.until, b.days)
                for b in drivers.blocked
                if visible(b.task)
            ),
            BLOCKED_LIMIT,
        ),
        added=Listing.of(
            AddedTaskLine(lines.of(a.task), a.added) for a in drivers.scope.added if visible(a.task)
        ),
        baseline=drivers.scope.baseline,
        final=drivers.scope.final,
    )
