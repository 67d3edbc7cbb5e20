"""Meeting minutes as plain text to decisions and action items (SPEC §3).

A line is a decision when, once list bullets and leading whitespace are gone, it starts with
`决定` or `Decision` and a colon (ASCII or full-width); an action item when it starts with
`待办`, `TODO` or `Action` and a colon. Case does not matter. Pure: text in, `MinuteItem`s out.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Literal

from stagecast.models import MinuteItem

MinuteKind = Literal["decision", "action"]

__all__ = ["MinuteKind", "classify_line", "meeting_date", "parse_minutes", "strip_bullets"]

# One list marker at the start of a line, as people type them and as Google Docs exports them:
# symbols, `1.` `1)` `1、` `(1)` `（1）`, circled numbers, `a.`, `一、`, and checkboxes.
_BULLET = re.compile(
    r"""^(?:
        [-*•·‣◦▪▫●○■□◆◇▸►✓✔–—+>]
      | \d{1,3}(?:\.\d{1,3})*[.)、．）]
      | [(（]\s*(?:\d{1,3}|[a-zA-Z]|[一二三四五六七八九十]{1,3})\s*[)）]
      | [①-⑳⑴-⒇⒈-⒛]
      | [a-zA-Z][.)](?=\s)
      | [一二三四五六七八九十]{1,3}[、.．]
      | \[[ xX✓]?\]
      | [☐☑☒]
    )\s*""",
    re.VERBOSE,
)

_KINDS: tuple[tuple[MinuteKind, re.Pattern[str]], ...] = (
    ("decision", re.compile(r"^(?:决定|decision)\s*[:：]\s*(?P<text>.*)$", re.IGNORECASE)),
    ("action", re.compile(r"^(?:待办|todo|action)\s*[:：]\s*(?P<text>.*)$", re.IGNORECASE)),
)

# A date as written in a minutes title or header: 2026-11-18, 2026/11/18, 2026.11.18,
# 20261118, 2026年11月18日.
_DATE = re.compile(
    r"(?<!\d)(?P<y>20\d{2})(?:(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})"
    r"|年\s*(?P<cm>\d{1,2})\s*月\s*(?P<cd>\d{1,2})\s*日"
    r"|(?P<cm8>\d{2})(?P<cd8>\d{2}))(?!\d)"
)
_DATE_LINE = re.compile(
    r"^(?:日期|会议日期|时间|会议时间|date|meeting date)\s*[:：]", re.IGNORECASE
)


def strip_bullets(line: str) -> str:
    """The line without leading whitespace and list markers, however many are nested."""
    text = line.lstrip("\ufeff").strip()
    while True:
        match = _BULLET.match(text)
        if match is None or not match.group(0):
            return text
        text = text[match.end() :].lstrip()


def classify_line(line: str) -> tuple[MinuteKind, str] | None:
    """`("decision" | "action", text)` for a minutes line that records one, else None."""
    text = strip_bullets(line)
    for kind, pattern in _KINDS:
        match = pattern.match(text)
        if match is not None:
            found = match.group("text").strip()
            return (kind, found) if found else None
    return None


def parse_minutes(
    text: str, *, document: str, url: str | None, day: date | None, source: str = ""
) -> tuple[MinuteItem, ...]:
    """Every decision and action item of one minutes document, in reading order."""
    items: list[MinuteItem] = []
    for line in text.splitlines():
        found = classify_line(line)
        if found is None:
            continue
        kind, item = found
        items.append(MinuteItem(kind, item, document=document, url=url, date=day, source=source))
    return tuple(items)


def _first_date(text: str) -> date | None:
    """The first valid calendar date written in `text`."""
    for match in _DATE.finditer(text):
        year = int(match.group("y"))
        month = match.group("m") or match.group("cm") or match.group("cm8")
        day = match.group("d") or match.group("cd") or match.group("cd8")
        try:
            return date(year, int(month), int(day))
        except ValueError:
            continue
    return None


def meeting_date(name: str, text: str = "") -> date | None:
    """The meeting's own date: from the title, else a `日期：`/`Date:` line near the top.

    Stable when the minutes are edited later, unlike the file's modification time, so an
    item keeps its identity (and is not reported again) when someone adds to the minutes.
    """
    found = _first_date(name)
    if found is not None:
        return found
    for line in text.splitlines()[:15]:
        stripped = strip_bullets(line)
        if _DATE_LINE.match(stripped):
            return _first_date(stripped)
    return None
