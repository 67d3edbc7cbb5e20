"""The plain data that flows from sources through the rules to reports.

Everything here is a frozen dataclass of standard types, so the core stays pure and a snapshot
round-trips through JSON (see `stagecast.serialize`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

TaskState = Literal["todo", "in_progress", "done"]
StageStatus = Literal["done", "late", "at_risk", "on_track"]
Severity = Literal["high", "medium", "low"]

SEVERITY_RANK: dict[str, int] = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class Task:
    """One Jira issue or Trello card, normalised (SPEC §3).

    `due` is a date when the source gives a date (Jira) and an aware datetime when it gives a
    moment (Trello); the core takes its local date in the project's timezone. `stage_values`
    are the candidate stage values in the source's order; `stage` is filled by stage assignment.
    """

    id: str
    key: str
    title: str
    source: str
    status: str
    state: TaskState
    url: str | None = None
    type: str | None = None
    stage_values: tuple[str, ...] = ()
    stage: str | None = None
    assignee: str | None = None
    due: date | datetime | None = None
    created: datetime | None = None
    updated: datetime | None = None
    done_at: datetime | None = None
    blocked: bool = False
    labels: tuple[str, ...] = ()
    priority: str | None = None
    resolution: str | None = None
    last_comment: str | None = None


@dataclass(frozen=True)
class Document:
    """A file in a project's Drive folder: a stage deliverable or meeting minutes."""

    id: str
    name: str
    source: str
    url: str | None = None
    mime_type: str | None = None
    modified: datetime | None = None


Day = date  # `MinuteItem.date` is a field; its other annotations need the type by another name


@dataclass(frozen=True)
class MinuteItem:
    """A decision or action item found in meeting minutes, with where it came from.

    An action item's `owner`, `due` date and `done` mark are read from its line
    (`stagecast.minutes`); `text` is the rest of it. They default to unknown and open, as
    snapshots stored before they were read hold them.
    """

    kind: Literal["decision", "action"]
    text: str
    document: str
    url: str | None
    date: date | None
    source: str = ""
    owner: str | None = None
    due: Day | None = None
    done: bool = False


@dataclass(frozen=True)
class StagePlan:
    """A stage as configured (or discovered): what it matches and when it is due."""

    name: str
    key: str
    match: str
    due: date | None = None
    required_docs: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageProgress:
    """The computed state of one stage at `as_of` (SPEC §4)."""

    name: str
    key: str
    due: date | None
    total: int
    done: int
    ratio: float | None
    done_in_window: int
    throughput: float
    forecast: date | None
    status: StageStatus
    completed_on: date | None = None
    # The documents the stage must deliver (its config's `required_docs`), carried here so a
    # report never reads the config again to know them.
    required_docs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Progress:
    """Project-wide counts: every task, staged or not."""

    total: int
    done: int
    ratio: float | None


@dataclass(frozen=True)
class RiskFlag:
    """A raised risk (SPEC §5); `(code, subject)` identifies it across snapshots.

    The facts say why it was raised, as values a report words in its own language:
    overdue `due`, `days`; blocked `status` (the task's, in its source) and `due` when it has
    one; stale `days`; unassigned `due`; stage_late and stage_at_risk `due`, `remaining`,
    `total` and `forecast` when there is one; scope_creep `total`, `baseline`, `growth_pct`;
    missing_deliverable `document`; source_unavailable `error`. `detail` is the same facts as
    the English sentence the JSON output carries (`stagecast.risks.english_detail`). Flags
    stored before they carried facts have only `detail`, and every fact None.
    """

    code: str
    severity: Severity
    subject: str
    stage: str | None
    detail: str = ""
    due: date | None = None
    days: int | None = None
    remaining: int | None = None
    total: int | None = None
    forecast: date | None = None
    baseline: int | None = None
    growth_pct: int | None = None
    document: str | None = None
    status: str | None = None
    error: str | None = None

    @property
    def ident(self) -> tuple[str, str]:
        return (self.code, self.subject)


@dataclass(frozen=True)
class SourceStatus:
    """How one source fared in a run and when it last succeeded."""

    name: str
    type: str
    ok: bool
    tasks: int
    error: str | None
    last_ok: datetime | None
    documents: int = 0


@dataclass(frozen=True)
class SourcePull:
    """What a source returns: tasks, documents and what it knows of stage due dates.

    A complete pull holds everything the source has. An incremental one (`complete=False`)
    holds only what changed since the cursor it was given, plus the ids of tasks it found
    removed; the rest is carried over from the source's previous tasks. `cursor` is what the
    next pull should start from.
    """

    tasks: tuple[Task, ...] = ()
    documents: tuple[Document, ...] = ()
    minutes: tuple[MinuteItem, ...] = ()
    stage_dues: dict[str, date] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    cursor: str | None = None
    complete: bool = True
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Event:
    """A Prefect event the sync emits; `id` is stable for the transition it reports.

    `labels` go on the event's resource beside its id, so a trigger can match them (a risk's
    severity: only alerts a project wants start a run).
    """

    id: str
    type: str
    resource: str
    payload: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusChange:
    """A stage whose status differs from the previous snapshot's."""

    stage: str
    key: str
    before: str | None
    after: str


@dataclass(frozen=True)
class Changes:
    """What moved since the previous snapshot (SPEC §6)."""

    added: tuple[str, ...] = ()
    newly_done: tuple[str, ...] = ()
    newly_blocked: tuple[str, ...] = ()
    unblocked: tuple[str, ...] = ()
    risks_raised: tuple[RiskFlag, ...] = ()
    risks_resolved: tuple[RiskFlag, ...] = ()
    stage_changes: tuple[StatusChange, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """Everything known about one project at one `as_of`: inputs and computed results."""

    project: str
    as_of: datetime
    tasks: tuple[Task, ...]
    documents: tuple[Document, ...]
    minutes: tuple[MinuteItem, ...]
    sources: tuple[SourceStatus, ...]
    stages: tuple[StageProgress, ...]
    progress: Progress
    risks: tuple[RiskFlag, ...]


@dataclass(frozen=True)
class InlineImage:
    """A picture the HTML shows inline, referenced as `<img src="cid:{cid}">`: an email carries
    it as a related part with that Content-ID; the `file` channel writes it beside the HTML."""

    cid: str
    filename: str
    data: bytes = field(repr=False)
    mime_type: str = "image/png"


@dataclass(frozen=True)
class Message:
    """A rendered report, ready for a channel: chat markdown, plain text and HTML.

    `sections` is the markdown cut at section boundaries, so a channel whose platform limits one
    post can split it into numbered parts without breaking a section in two. `images` are the
    ones the HTML references (the burn-up chart); chat and plain text show none.
    """

    kind: str
    project: str
    period: str
    audience: Literal["client", "internal"]
    language: str
    title: str
    markdown: str
    text: str
    html: str | None = None
    sections: tuple[str, ...] = ()
    images: tuple[InlineImage, ...] = ()
