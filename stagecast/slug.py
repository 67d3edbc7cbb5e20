"""Stage keys: stable slugs for event resources and ids."""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[\W_]+")


def slugify(name: str) -> str:
    """Lower-case words joined by dashes; CJK stays as it is so 需求确认 keeps its meaning."""
    text = unicodedata.normalize("NFKC", name).lower()
    return _NOT_WORD.sub("-", text).strip("-") or "stage"
