"""Rules every source shares when it turns vendor data into tasks (SPEC §3)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

# "Blocked"/"Blocker" as a word, not inside "Unblocked"; plus the Chinese words for it.
_BLOCKED = re.compile(r"(?<![a-z])(blocked|blocker)(?![a-z])|阻塞|受阻", re.IGNORECASE)


def looks_blocked(names: Iterable[str | None]) -> bool:
    """True when any status, list or label name says the work is blocked."""
    return any(name and _BLOCKED.search(name) for name in names)


def parse_moment(value: object) -> datetime:
    """A vendor's ISO 8601 timestamp (`…Z`, `…+08:00`, Jira's `…+0800`) as an aware UTC datetime.

    Vendors always write an offset; a hand-edited time without one is read as UTC.
    """
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    moment = datetime.fromisoformat(value.strip())
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
