"""Small constructors for test data: a task or a calendar in one line."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from stagecast.calendar import WorkCalendar
from stagecast.models import Message, Task

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str, tz: ZoneInfo = SHANGHAI) -> datetime:
    """A local moment: '2026-11-20 18:00' in Shanghai unless told otherwise."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def day(text: str) -> date:
    """A date from ISO text."""
    return date.fromisoformat(text)


def task(key: str, state: str = "todo", **fields: Any) -> Task:
    """A task with sensible defaults; `done` accepts a local date text for done_at."""
    done = fields.pop("done", None)
    if done is not None:
        fields["done_at"] = at(done) if " " in done or "T" in done else at(done + " 12:00")
    if isinstance(fields.get("due"), str):
        fields["due"] = day(fields["due"])
    if isinstance(fields.get("updated"), str):
        fields["updated"] = at(fields["updated"])
    fields.setdefault(
        "stage_values", (fields.pop("stage_value"),) if "stage_value" in fields else ()
    )
    return Task(
        id=fields.pop("id", key),
        key=key,
        title=fields.pop("title", f"task {key}"),
        source=fields.pop("source", "board"),
        status=fields.pop("status", {"todo": "To Do", "in_progress": "Doing"}.get(state, "Done")),
        state=state,  # type: ignore[arg-type]
        **fields,
    )


def weekdays(country: str | None = None, **kw: Any) -> WorkCalendar:
    """A Monday–Friday calendar in Shanghai, 09:00–18:00."""
    return WorkCalendar(SHANGHAI, country=country, hours=(time(9), time(18)), **kw)


def daily_message(*sections: str, **fields: Any) -> Message:
    """A rendered client daily update of acme for 2026-11-20, made of `sections`."""
    parts = sections or ("# Daily update\n\nAll on track.",)
    values: dict[str, Any] = dict(
        kind="daily_update",
        project="acme",
        period="2026-11-20",
        audience="client",
        language="en",
        title="Daily update",
        markdown="\n\n".join(parts),
        text="Daily update",
        sections=tuple(parts),
    )
    return Message(**{**values, **fields})
