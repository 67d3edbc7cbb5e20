"""Atlassian Document Format (Jira Cloud's rich text) flattened to plain text for reports.

Jira Cloud's REST API v3 sends descriptions and comments as ADF, a JSON tree of block nodes
(paragraph, heading, lists, tables…) holding inline nodes (text, mention, emoji…). Reports need
what a reader would see, as text: block nodes become lines, inline nodes their visible text.
Unknown nodes (ADF grows) give their children's text rather than disappearing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime

Node = Mapping[str, object]

# Inline node types; anything else met where blocks are expected is treated as a block.
_INLINE = frozenset(
    {
        "text",
        "hardBreak",
        "mention",
        "emoji",
        "inlineCard",
        "date",
        "status",
        "placeholder",
        "mediaInline",
        "inlineExtension",
    }
)

# Blocks that only group other blocks: their text is their children's.
_CONTAINERS = frozenset(
    {"doc", "panel", "layoutSection", "layoutColumn", "bodiedExtension", "extensionFrame"}
)


def adf_to_text(doc: object) -> str:
    """Plain text of an ADF document; text (API v2, Data Center) is returned as it is."""
    if doc is None:
        return ""
    if isinstance(doc, str):
        return doc
    if not isinstance(doc, Mapping):
        return ""
    return _tidy(_blocks([doc]))


def _tidy(lines: Iterable[str]) -> str:
    """Trailing spaces off, runs of blank lines to one, no blank lines at either end."""
    text = "\n".join(line.rstrip() for line in lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _children(node: Node) -> list[Node]:
    """The node's content, skipping anything that is not a node."""
    content = node.get("content")
    if not isinstance(content, Sequence) or isinstance(content, str):
        return []
    return [child for child in content if isinstance(child, Mapping)]


def _attr(node: Node, name: str) -> object:
    """One of the node's attributes, None when absent."""
    attrs = node.get("attrs")
    return attrs.get(name) if isinstance(attrs, Mapping) else None


def _text_attr(node: Node, name: str) -> str:
    """A text attribute, "" when absent or not text."""
    value = _attr(node, name)
    return value if isinstance(value, str) else ""


def _kind(node: Node) -> str:
    """The node's type; "" when it has none (or a type that is not text)."""
    kind = node.get("type")
    return kind if isinstance(kind, str) else ""


def _is_inline(node: Node) -> bool:
    """Inline by type, or an unknown node carrying text of its own."""
    kind = _kind(node)
    return kind in _INLINE or (kind not in _BLOCK_RENDERERS and "text" in node)


def _blocks(nodes: Sequence[Node]) -> list[str]:
    """Lines of a sequence of block nodes; stray inline runs become a paragraph of their own."""
    lines: list[str] = []
    run: list[Node] = []
    for node in nodes:
        if _is_inline(node):
            run.append(node)
            continue
        if run:
            lines.extend(_inlines(run).split("\n"))
            run = []
        lines.extend(_block(node))
    if run:
        lines.extend(_inlines(run).split("\n"))
    return lines


def _block(node: Node) -> list[str]:
    """Lines of one block node; an unknown block gives its children's lines."""
    renderer = _BLOCK_RENDERERS.get(_kind(node))
    if renderer is not None:
        return renderer(node)
    return _blocks(_children(node))


def _paragraph(node: Node) -> list[str]:
    """A paragraph or heading: its inline text, hard breaks kept as line breaks."""
    return _inlines(_children(node)).split("\n")


def _code(node: Node) -> list[str]:
    """A code block's text, lines as written."""
    return "".join(str(child.get("text") or "") for child in _children(node)).split("\n")


def _indent(lines: list[str], first: str, rest: str) -> list[str]:
    """Prefix a list item's first line with its marker and the others with matching space."""
    if not lines:
        return [first.rstrip()]
    return [first + lines[0]] + [rest + line if line else line for line in lines[1:]]


def _bullet_list(node: Node) -> list[str]:
    """`- item` per list item; nested lists indent under their item."""
    lines: list[str] = []
    for item in _children(node):
        lines.extend(_indent(_blocks(_children(item)), "- ", "  "))
    return lines


def _ordered_list(node: Node) -> list[str]:
    """`1. item` per list item, numbered from the list's `order` attribute."""
    start = _attr(node, "order")
    number = start if isinstance(start, int) and not isinstance(start, bool) else 1
    lines: list[str] = []
    for offset, item in enumerate(_children(node)):
        marker = f"{number + offset}. "
        lines.extend(_indent(_blocks(_children(item)), marker, " " * len(marker)))
    return lines


def _task_list(node: Node) -> list[str]:
    """`[x] done item` / `[ ] open item`; decision items read as `- decision`."""
    lines: list[str] = []
    for item in _children(node):
        state = _attr(item, "state")
        marker = {"DONE": "[x] ", "TODO": "[ ] "}.get(state if isinstance(state, str) else "", "- ")
        lines.extend(_indent(_blocks(_children(item)), marker, " " * len(marker)))
    return lines


def _blockquote(node: Node) -> list[str]:
    """Quoted lines, `> ` in front as in a mail reply."""
    return ["> " + line if line else ">" for line in _blocks(_children(node))]


def _table(node: Node) -> list[str]:
    """One line per row, cells separated by ` | ` (each cell's text on one line)."""
    lines: list[str] = []
    for row in _children(node):
        cells = [" ".join(filter(None, _blocks(_children(cell)))) for cell in _children(row)]
        lines.append(" | ".join(cell.strip() for cell in cells))
    return lines


def _expand(node: Node) -> list[str]:
    """A collapsible section: its title, then its content."""
    title = _text_attr(node, "title")
    return ([title] if title else []) + _blocks(_children(node))


def _card(node: Node) -> list[str]:
    """A block or embedded link card: its address."""
    return [_text_attr(node, "url")]


def _media(node: Node) -> list[str]:
    """Images and files have no text; a caption, when present, is what a reader sees."""
    return [line for child in _children(node) for line in _blocks([child])]


def _nothing(node: Node) -> list[str]:
    """A node with no readable text (an image, an attachment)."""
    return []


def _rule(node: Node) -> list[str]:
    """A horizontal rule, drawn as text."""
    return ["---"]


def _container(node: Node) -> list[str]:
    """A block that only groups other blocks."""
    return _blocks(_children(node))


_BLOCK_RENDERERS: dict[str, Callable[[Node], list[str]]] = {
    "paragraph": _paragraph,
    "heading": _paragraph,
    "codeBlock": _code,
    "bulletList": _bullet_list,
    "orderedList": _ordered_list,
    "taskList": _task_list,
    "decisionList": _task_list,
    "blockquote": _blockquote,
    "table": _table,
    "expand": _expand,
    "nestedExpand": _expand,
    "blockCard": _card,
    "embedCard": _card,
    "mediaSingle": _media,
    "mediaGroup": _media,
    "caption": _paragraph,
    "media": _nothing,
    "rule": _rule,
    **dict.fromkeys(_CONTAINERS, _container),
}


def _inlines(nodes: Sequence[Node]) -> str:
    """The visible text of inline nodes, in order; `\\n` where a hard break is."""
    return "".join(_inline(node) for node in nodes)


def _inline(node: Node) -> str:
    """One inline node's visible text; an unknown one gives its own or its children's text."""
    kind = _kind(node)
    if kind == "text":
        return _text(node)
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        name = _text_attr(node, "text") or _text_attr(node, "id")
        return name if name.startswith("@") else f"@{name}"
    if kind == "emoji":
        return _text_attr(node, "text") or _text_attr(node, "shortName")
    if kind == "inlineCard":
        return _text_attr(node, "url")
    if kind == "date":
        return _date(_attr(node, "timestamp"))
    if kind == "status":
        return _text_attr(node, "text")
    if kind in ("placeholder", "mediaInline"):
        return ""
    own = node.get("text")
    return own if isinstance(own, str) else _inlines(_children(node))


def _text(node: Node) -> str:
    """A text node; a link whose text is not its address keeps the address after it."""
    text = node.get("text")
    text = text if isinstance(text, str) else ""
    marks = node.get("marks")
    for mark in marks if isinstance(marks, Sequence) and not isinstance(marks, str) else ():
        if isinstance(mark, Mapping) and mark.get("type") == "link":
            href = _text_attr(mark, "href")
            if href and href != text:
                return f"{text} ({href})" if text else href
    return text


def _date(timestamp: object) -> str:
    """A date node holds Unix milliseconds (as text); readers see the ISO date (UTC)."""
    try:
        millis = int(str(timestamp))
        return datetime.fromtimestamp(millis / 1000, UTC).date().isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
