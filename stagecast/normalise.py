"""Rules every source shares when it turns vendor data into tasks (SPEC §3)."""

from __future__ import annotations

import re
from collections.abc import Iterable

# "Blocked"/"Blocker" as a word, not inside "Unblocked"; plus the Chinese words for it.
_BLOCKED = re.compile(r"(?<![a-z])(blocked|blocker)(?![a-z])|阻塞|受阻", re.IGNORECASE)


def looks_blocked(names: Iterable[str | None]) -> bool:
    """True when any status, list or label name says the work is blocked."""
    return any(name and _BLOCKED.search(name) for name in names)
