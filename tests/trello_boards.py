"""Synthetic Trello board exports, shaped like the real "Export as JSON" files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LISTS = {"todo": "To Do", "doing": "Doing", "done": "Done", "blocked": "Blocked"}


def _list_id(name: str) -> str:
    return f"list{sum(map(ord, name)):020x}"[-24:]


def card(
    short: str,
    where: str = "todo",
    *,
    labels: tuple[str, ...] = (),
    due: str | None = None,
    member: str | None = "m1",
    last_activity: str = "2026-11-10T02:00:00.000Z",
    created: str = "2026-10-01T02:00:00.000Z",
    done_moves: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A card in one of LISTS ('todo', 'doing', 'done', 'blocked'), with its history."""
    return {
        "short": short,
        "list": LISTS[where],
        "labels": labels,
        "due": due,
        "member": member,
        "last_activity": last_activity,
        "created": created,
        "done_moves": done_moves,
    }


def board(cards: list[dict[str, Any]], name: str = "ACME") -> dict[str, Any]:
    """The export: lists, labels, members, cards and the actions behind done_at and created."""
    label_names = sorted({n for c in cards for n in c["labels"]})
    labels = [
        {"id": f"lab{i:021d}", "name": n, "color": "green"} for i, n in enumerate(label_names)
    ]
    label_ids = {lab["name"]: lab["id"] for lab in labels}
    lists = [{"id": _list_id(n), "name": n, "closed": False} for n in LISTS.values()]
    exported, actions = [], []
    for i, c in enumerate(cards):
        card_id = f"{i + 1:024x}"
        exported.append(
            {
                "id": card_id,
                "shortLink": c["short"],
                "name": f"Card {c['short']}",
                "shortUrl": f"https://trello.com/c/{c['short']}",
                "idList": _list_id(c["list"]),
                "closed": False,
                "due": c["due"],
                "dueComplete": False,
                "dateLastActivity": c["last_activity"],
                "idMembers": [c["member"]] if c["member"] else [],
                "idLabels": [label_ids[n] for n in c["labels"]],
                "labels": [{"id": label_ids[n], "name": n, "color": "green"} for n in c["labels"]],
            }
        )
        actions.append(
            {
                "id": f"c{i:023x}",
                "type": "createCard",
                "date": c["created"],
                "data": {
                    "card": {"id": card_id, "shortLink": c["short"]},
                    "list": {"id": _list_id(c["list"]), "name": c["list"]},
                },
            }
        )
        for j, when in enumerate(c["done_moves"]):
            actions.append(
                {
                    "id": f"m{i:012x}{j:011x}",
                    "type": "updateCard",
                    "date": when,
                    "data": {
                        "card": {"id": card_id, "idList": _list_id("Done")},
                        "listBefore": {"id": _list_id("Doing"), "name": "Doing"},
                        "listAfter": {"id": _list_id("Done"), "name": "Done"},
                        "old": {"idList": _list_id("Doing")},
                    },
                }
            )
    return {
        "id": "board0000000000000000001",
        "name": name,
        "lists": lists,
        "labels": labels,
        "members": [{"id": "m1", "fullName": "王工", "username": "wang"}],
        "cards": exported,
        "actions": actions,
    }


def write_board(path: Path, cards: list[dict[str, Any]]) -> Path:
    """Write an export file and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(board(cards), ensure_ascii=False), encoding="utf-8")
    return path
