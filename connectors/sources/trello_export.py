"""A Trello board's "Export as JSON" file as a source: the offline stand-in for the live board."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from connectors.sources.base import PullRequest, SourceError
from connectors.sources.trello_cards import StageField, normalise_board
from stagecast.models import SourcePull


class TrelloLists(Protocol):
    """The config's `lists`: names added to the default done and doing lists."""

    done: Sequence[str]
    doing: Sequence[str]


class TrelloExportConfig(Protocol):
    """The attributes of a validated `type: trello_export` entry this source reads."""

    name: str | None
    type: str
    path: Path
    stage_field: StageField
    lists: TrelloLists


def read_board(path: Path) -> dict[str, Any]:
    """Load an export file, or say in one line, naming the file, why it cannot be used."""
    try:
        # utf-8-sig: an export re-saved by a Windows editor starts with a BOM.
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise SourceError(f"{path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise SourceError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        board = json.loads(text)
    except json.JSONDecodeError as err:
        raise SourceError(
            f"{path}: not valid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    if not (
        isinstance(board, dict)
        and isinstance(board.get("cards"), list)
        and isinstance(board.get("lists"), list)
    ):
        raise SourceError(f"{path}: not a Trello board export (no 'cards' and 'lists' arrays)")
    return board


class TrelloExportSource:
    """Tasks from a board export file; reads the whole file on every pull."""

    type = "trello_export"
    fan_out = 1  # one request at a time

    def __init__(self, cfg: TrelloExportConfig) -> None:
        self.name: str = cfg.name or self.type
        self.path = Path(cfg.path)
        self.stage_field: StageField = cfg.stage_field or "label"
        lists = getattr(cfg, "lists", None)
        self.done_lists = tuple(getattr(lists, "done", None) or ())
        self.doing_lists = tuple(getattr(lists, "doing", None) or ())

    def pull(self, request: PullRequest | None = None) -> SourcePull:
        """Read the file and normalise its cards; a file has no cursor, so always all of it."""
        return normalise_board(
            read_board(self.path),
            source=self.name,
            stage_field=self.stage_field,
            done_lists=self.done_lists,
            doing_lists=self.doing_lists,
        )
