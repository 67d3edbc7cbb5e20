"""Stage keys: stable slugs for event resources and ids."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_NOT_WORD = re.compile(r"[\W_]+")
# A key goes into event resources, ledger periods and file names: a label of a hundred
# thousand characters must not make a key as long.
MAX_KEY = 64


def slugify(name: str) -> str:
    """Lower-case words joined by dashes; CJK stays as it is so 需求确认 keeps its meaning. A
    longer slug keeps its start and a hash of the whole, so two long names stay apart."""
    text = unicodedata.normalize("NFKC", name).lower()
    slug = _NOT_WORD.sub("-", text).strip("-") or "stage"
    if len(slug) <= MAX_KEY:
        return slug
    digest = hashlib.sha256(slug.encode("utf-8")).hexdigest()[:8]
    return f"{slug[: MAX_KEY - 9].rstrip('-')}-{digest}"
