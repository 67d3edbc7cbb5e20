"""Cutting a rendered report into posts that fit a platform's limit (SPEC §8).

Sections are kept whole and in order; only a section too long for one post on its own is cut,
at line boundaries (and a single line too long, at characters). Numbering the parts and adding a
channel's keyword is the channel's business: pass a `limit` that leaves room for them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["pack_sections", "utf8_size"]

SEPARATOR = "\n\n"


def utf8_size(text: str) -> int:
    """Bytes in UTF-8: how WeCom and DingTalk count (a Chinese character is 3)."""
    return len(text.encode("utf-8"))


def pack_sections(
    sections: Sequence[str], limit: int, *, size: Callable[[str], int] = utf8_size
) -> list[str]:
    """As few parts as possible, each at most `limit` by `size`, sections joined by a blank
    line; `"\\n\\n".join(parts)` has the same text as the sections when none had to be cut."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    parts: list[str] = []
    current = ""
    for piece in (p for section in sections for p in _fitting(section, limit, size)):
        joined = f"{current}{SEPARATOR}{piece}" if current else piece
        if size(joined) <= limit:
            current = joined
        else:
            parts.append(current)
            current = piece
    if current:
        parts.append(current)
    return parts


def _fitting(section: str, limit: int, size: Callable[[str], int]) -> list[str]:
    """The section whole, or cut into runs of lines (or characters) that fit."""
    if size(section) <= limit:
        return [section]
    pieces: list[str] = []
    current = ""
    for line in (p for raw in section.split("\n") for p in _cut_line(raw, limit, size)):
        joined = f"{current}\n{line}" if current else line
        if size(joined) <= limit:
            current = joined
        else:
            pieces.append(current)
            current = line
    if current:
        pieces.append(current)
    return pieces


def _cut_line(line: str, limit: int, size: Callable[[str], int]) -> list[str]:
    """A line longer than the limit, cut at characters (a last resort: it may cut a link)."""
    if size(line) <= limit:
        return [line]
    pieces: list[str] = []
    current = ""
    for char in line:
        if current and size(current + char) > limit:
            pieces.append(current)
            current = ""
        current += char
    if current:
        pieces.append(current)
    return pieces
