"""Open action items from meeting minutes, as the daily update and the stage report show them:
what, who owns it, by when, and the minutes it came from."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from stagecast.models import MinuteItem
from stagecast.reports.context.common import Listing, natural
from stagecast.reports.escape import safe_url, source_text

Day = date  # `ActionItemLine.date` is a field; its annotations need the type by another name


@dataclass(frozen=True)
class ActionItemLine:
    """An open action item: its words, its owner (None when the minutes name nobody, or the
    audience may not see names), its due date, and the minutes it came from.

    `overdue` when the due date is before the report's date.
    """

    text: str
    owner: str | None
    due: Day | None
    overdue: bool
    document: str
    url: str | None
    date: Day | None


def open_action_items(
    minutes: Iterable[MinuteItem],
    *,
    today: date,
    show_names: bool,
    since: date | None = None,
    until: date | None = None,
) -> Listing[ActionItemLine]:
    """Action items not marked done, soonest due first (then those with no due date, newest
    minutes first); only those of minutes dated from `since` to `until` when given.

    Minutes often carry an open item from one meeting to the next: an item (same words, same
    owner) counts once, as its latest minutes have it, so a later tick closes it.
    """
    latest: dict[tuple[str, str], MinuteItem] = {}
    for item in minutes:
        if item.kind != "action" or not _within(item.date, since, until):
            continue
        ident = (item.text.casefold(), (item.owner or "").casefold())
        known = latest.get(ident)
        if known is None or (item.date or date.min) >= (known.date or date.min):
            latest[ident] = item
    items = sorted(
        (m for m in latest.values() if not m.done),
        key=lambda m: (
            m.due is None,
            m.due or date.max,
            -(m.date or date.min).toordinal(),
            natural(m.text),
        ),
    )
    return Listing.of(_line(m, today, show_names) for m in items)


def _within(day: date | None, since: date | None, until: date | None) -> bool:
    """Undated minutes count everywhere: nothing says they fall outside."""
    if day is None:
        return True
    return (since is None or since <= day) and (until is None or day <= until)


def _line(item: MinuteItem, today: date, show_names: bool) -> ActionItemLine:
    owner = source_text(item.owner) if item.owner and show_names else None
    return ActionItemLine(
        text=source_text(item.text),
        owner=owner or None,
        due=item.due,
        overdue=item.due is not None and item.due < today,
        document=source_text(item.document),
        url=safe_url(item.url),
        date=item.date,
    )
