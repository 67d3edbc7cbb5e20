"""The daily update (SPEC §7): progress per stage, what changed since the last update, risks
new, ongoing and resolved, what is due soon, documents and decisions, and for the team the
open action items of the minutes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from stagecast.calendar import WorkCalendar
from stagecast.changes import compare
from stagecast.config import ProjectConfig
from stagecast.models import RiskFlag, Snapshot, Task
from stagecast.reports.context.action_items import ActionItemLine, open_action_items
from stagecast.reports.context.common import (
    Audience,
    ChangeLists,
    DecisionLine,
    DocumentLine,
    Figures,
    Listing,
    RiskLines,
    Risks,
    StageRow,
    TaskLine,
    TaskLines,
    audience_sees,
    changed_documents,
    figures,
    header,
    is_internal,
    key_order,
    natural,
    new_decisions,
    stage_row,
    tasks_by_key,
)
from stagecast.risks import sort_risks

Day = date  # `DailyUpdate.date` is a field; its annotations need the type by another name


@dataclass(frozen=True)
class DailyUpdate:
    """Everything a daily update shows (SPEC §7), for one audience.

    `action_items` are the minutes' open action items: the team's only (empty for a client).
    """

    project_key: str
    project_name: str
    audience: Audience
    language: str
    as_of: datetime
    date: date
    period: str
    first_update: bool
    since_as_of: datetime | None
    since_date: Day | None
    progress: Figures
    stages: tuple[StageRow, ...]
    changes: ChangeLists
    risks: Risks
    due_soon: Listing[TaskLine]
    due_soon_days: int
    due_soon_until: Day
    documents: Listing[DocumentLine]
    decisions: tuple[DecisionLine, ...]
    action_items: Listing[ActionItemLine]
    show_assignees: bool
    show_task_links: bool


def daily_update_context(
    project: ProjectConfig,
    snapshot: Snapshot,
    since: Snapshot | None,
    *,
    audience: Audience,
    language: str,
    calendar: WorkCalendar,
    for_date: date | None = None,
) -> DailyUpdate:
    """The daily update of `snapshot`, against `since`: the snapshot the last one was made from.

    `for_date` is the day a scheduled update is for (its cron occurrence), which names its
    ledger period even when the run starts late; by default, the snapshot's own date.
    """
    client = audience == "client"
    today = calendar.local_date(snapshot.as_of)
    by_key = tasks_by_key(snapshot.tasks)
    before = tasks_by_key(since.tasks) if since is not None else {}
    lines = TaskLines(calendar, show_names=not client)

    def visible(task: Task) -> bool:
        return not (client and is_internal(task))

    def listed(keys: Iterable[str]) -> Listing[TaskLine]:
        tasks = (by_key[k] for k in keys if k in by_key)
        return Listing.of(lines.of(t) for t in sorted(tasks, key=key_order) if visible(t))

    changes = compare(since, snapshot)
    until = calendar.add_working_days(today, project.risk.due_soon_days)
    due_soon = sorted(
        (
            t
            for t in snapshot.tasks
            if t.state != "done"
            and t.due is not None
            and today <= calendar.local_date(t.due) <= until
            and visible(t)
        ),
        key=lambda t: (calendar.local_date(t.due) if t.due else today, natural(t.key)),
    )
    risk_lines = RiskLines(lines, by_key, before)

    known = {**before, **by_key}

    def shown(flag: RiskFlag) -> bool:
        return audience_sees(flag, client, known)

    if since is None:
        new: list[RiskFlag] = []
        ongoing = list(snapshot.risks)
    else:
        raised = {f.ident for f in changes.risks_raised}
        new = [f for f in snapshot.risks if f.ident in raised]
        ongoing = [f for f in snapshot.risks if f.ident not in raised]
    risks = Risks(
        new=tuple(risk_lines.of(f) for f in sort_risks(new) if shown(f)),
        ongoing=tuple(risk_lines.of(f) for f in sort_risks(ongoing) if shown(f)),
        resolved=tuple(risk_lines.of(f) for f in sort_risks(changes.risks_resolved) if shown(f)),
    )
    return DailyUpdate(
        **header(
            project,
            snapshot,
            audience=audience,
            language=language,
            calendar=calendar,
            period=(for_date or today).isoformat(),
        ),
        first_update=since is None,
        since_as_of=since.as_of.astimezone(calendar.tz) if since is not None else None,
        since_date=calendar.local_date(since.as_of) if since is not None else None,
        progress=figures(snapshot),
        stages=tuple(stage_row(s) for s in snapshot.stages),
        changes=ChangeLists(
            done=listed(changes.newly_done),
            added=listed(changes.added),
            blocked=listed(changes.newly_blocked),
        ),
        risks=risks,
        due_soon=Listing.of(lines.of(t) for t in due_soon),
        due_soon_days=project.risk.due_soon_days,
        due_soon_until=until,
        documents=Listing.of(changed_documents(snapshot.documents, since, calendar)),
        decisions=tuple(new_decisions(snapshot.minutes, since, calendar)),
        # Who owes what to whom is the team's business: the client's update leaves it out.
        action_items=(
            Listing.of([])
            if client
            else open_action_items(snapshot.minutes, today=today, show_names=True)
        ),
        show_assignees=not client,
        show_task_links=not client,
    )
