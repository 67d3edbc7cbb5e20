"""Trello board data to tasks (SPEC §3), shared by the live API source and the export file.

The input is a board as the REST API returns it: `cards`, `lists`, `labels`, `members` and
`actions` arrays in one mapping, which is also exactly what "Export as JSON" writes. Older
exports have no top-level `labels` and no `dueComplete`; both load. `lists` must include the
archived lists (the API's `filter=all`), otherwise cards in them are reported as unknown.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from stagecast.models import SourcePull, Task, TaskState
from stagecast.normalise import looks_blocked, parse_moment

logger = logging.getLogger(__name__)

StageField = Literal["label", "list"]

DEFAULT_DONE_LISTS: tuple[str, ...] = ("Done", "完成", "已完成", "クローズ")
DEFAULT_DOING_LISTS: tuple[str, ...] = ("Doing", "In Progress", "进行中", "作業中")


class _SkipCard(ValueError):
    """Why a card cannot become a task; the caller names the card in the warning."""


def created_from_id(object_id: str) -> datetime | None:
    """A Trello id starts with its creation time: 8 hex digits of Unix seconds (documented)."""
    head = object_id[:8]
    if len(head) < 8 or not all(ch in string.hexdigits for ch in head):
        return None
    return datetime.fromtimestamp(int(head, 16), UTC)


def _fold(name: str) -> str:
    """List names match case-insensitively and exactly, so compare folded, trimmed names."""
    return name.strip().casefold()


@dataclass(frozen=True)
class _BoardList:
    """A list of the board: its name and whether it is archived."""

    name: str
    closed: bool


@dataclass(frozen=True)
class _ListRules:
    """Which list names mean done or in progress: the defaults plus the configured ones."""

    done: frozenset[str]
    doing: frozenset[str]

    @classmethod
    def build(cls, done_lists: Iterable[str], doing_lists: Iterable[str]) -> _ListRules:
        """Add the configured names to the defaults, never replacing them (SPEC §2)."""
        return cls(
            done=frozenset(_fold(n) for n in (*DEFAULT_DONE_LISTS, *done_lists)),
            doing=frozenset(_fold(n) for n in (*DEFAULT_DOING_LISTS, *doing_lists)),
        )

    def is_done(self, name: object) -> bool:
        """True for a done list's name."""
        return isinstance(name, str) and _fold(name) in self.done

    def list_state(self, name: str) -> TaskState:
        """The state a card has because of the list it sits in."""
        if self.is_done(name):
            return "done"
        return "in_progress" if _fold(name) in self.doing else "todo"


@dataclass
class _History:
    """What the board's actions tell about each card, keyed by card id."""

    created: dict[str, datetime] = field(default_factory=dict)
    done_moves: dict[str, datetime] = field(default_factory=dict)
    comments: dict[str, tuple[datetime, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Board:
    """The lookups a card needs, built once per board."""

    lists: dict[str, _BoardList]
    labels: dict[str, Mapping[str, Any]]
    members: dict[str, Mapping[str, Any]]
    rules: _ListRules
    history: _History


def _objects(value: object) -> list[Mapping[str, Any]]:
    """The mappings of a JSON array; anything else in it is not data we can use."""
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _by_id(items: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Index board objects by their `id`."""
    return {item["id"]: item for item in items if isinstance(item.get("id"), str)}


def _keep(mapping: dict[str, datetime], key: str, when: datetime, *, latest: bool = True) -> None:
    """Keep the latest (or earliest) moment per card: actions come newest first, but may not."""
    known = mapping.get(key)
    if known is None or (when > known if latest else when < known):
        mapping[key] = when


def _is_move_into_done(data: Mapping[str, Any], rules: _ListRules, done_ids: set[str]) -> bool:
    """A list change into a done list (SPEC §3: the last such move is the completion).

    The target is recognised by its name at the time or by the id of a list that is done now,
    so a done list renamed since (クローズ was 完了) still counts.
    """
    after = data.get("listAfter")
    if not isinstance(after, Mapping):
        return False
    return rules.is_done(after.get("name")) or after.get("id") in done_ids


def _read_history(
    actions: Iterable[Mapping[str, Any]], rules: _ListRules, done_ids: set[str], warnings: list[str]
) -> _History:
    """Collect creation, completion and comment moments per card from the board's actions."""
    history = _History()
    for action in actions:
        kind = action.get("type")
        if kind not in ("createCard", "updateCard", "commentCard"):
            continue
        data = action.get("data")
        card = data.get("card") if isinstance(data, Mapping) else None
        if not isinstance(data, Mapping) or not isinstance(card, Mapping):
            continue
        card_id = card.get("id")
        if not isinstance(card_id, str):
            continue
        try:
            when = parse_moment(action.get("date"))
        except ValueError:
            _warn(warnings, f"action {action.get('id')!r}: unparseable date {action.get('date')!r}")
            continue
        if kind == "createCard":
            _keep(history.created, card_id, when, latest=False)
        elif kind == "commentCard":
            text = data.get("text")
            known = history.comments.get(card_id)
            if isinstance(text, str) and (known is None or when > known[0]):
                history.comments[card_id] = (when, text)
        elif _is_move_into_done(data, rules, done_ids):
            _keep(history.done_moves, card_id, when)
    return history


def _warn(warnings: list[str], message: str) -> None:
    """Record a warning for the run's output and the log alike."""
    warnings.append(message)
    logger.warning("%s", message)


def _optional_time(card: Mapping[str, Any], key: str) -> datetime | None:
    """A card's timestamp field, None when absent; unparseable makes the card malformed."""
    value = card.get(key)
    if value is None or value == "":
        return None
    try:
        return parse_moment(value)
    except ValueError:
        raise _SkipCard(f"unparseable {key} {value!r}") from None


def _label_names(
    card: Mapping[str, Any], board_labels: Mapping[str, Mapping[str, Any]]
) -> tuple[str, ...]:
    """The card's named labels in its order; colour-only labels have no name and are left out."""
    labels: list[Mapping[str, Any]] = _objects(card.get("labels"))
    if not labels and isinstance(card.get("idLabels"), list):
        # Some exports carry only ids on the card; resolve them through the board's labels.
        labels = [board_labels[i] for i in card["idLabels"] if i in board_labels]
    names = (label.get("name") for label in labels)
    return tuple(n.strip() for n in names if isinstance(n, str) and n.strip())


def _assignee(card: Mapping[str, Any], members: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The first member's full name, else username, else id (a member may have left the board)."""
    ids = card.get("idMembers")
    if not isinstance(ids, list) or not ids or not isinstance(ids[0], str):
        return None
    member = members.get(ids[0], {})
    return member.get("fullName") or member.get("username") or ids[0]


def _done_at(card_id: str, updated: datetime | None, history: _History) -> datetime | None:
    """When the card became done: its last move into a done list, else its last activity."""
    return history.done_moves.get(card_id, updated)


def _card_task(
    card: Mapping[str, Any], board: _Board, *, source: str, stage_field: StageField
) -> Task | None:
    """The task for one card; None when it is archived or sits in an archived list."""
    if card.get("closed") is True:
        return None
    id_list = card.get("idList")
    card_list = board.lists.get(id_list) if isinstance(id_list, str) else None
    if card_list is not None and card_list.closed:
        return None
    card_id, short_link = card.get("id"), card.get("shortLink")
    if not isinstance(card_id, str) or not card_id:
        raise _SkipCard("missing id")
    if not isinstance(short_link, str) or not short_link:
        raise _SkipCard("missing shortLink")
    if card_list is None:
        raise _SkipCard(f"its list {card.get('idList')!r} is not on the board")
    due, updated = _optional_time(card, "due"), _optional_time(card, "dateLastActivity")
    state: TaskState = (
        "done" if card.get("dueComplete") is True else board.rules.list_state(card_list.name)
    )
    done_at = _done_at(card_id, updated, board.history) if state == "done" else None
    labels = _label_names(card, board.labels)
    comment = board.history.comments.get(card_id)
    return Task(
        id=card_id,
        key=short_link,
        title=str(card.get("name") or ""),
        source=source,
        status=card_list.name,
        state=state,
        url=card.get("shortUrl") or card.get("url") or None,
        stage_values=labels if stage_field == "label" else (card_list.name,),
        assignee=_assignee(card, board.members),
        due=due,
        created=board.history.created.get(card_id) or created_from_id(card_id),
        updated=updated,
        done_at=done_at,
        blocked=looks_blocked((card_list.name, *labels)),
        labels=labels,
        last_comment=comment[1] if comment else None,
    )


def _board_lookups(board: Mapping[str, Any], rules: _ListRules, warnings: list[str]) -> _Board:
    """Index the board's lists, labels and members and read its actions, once."""
    lists = {
        lst["id"]: _BoardList(name=str(lst.get("name") or ""), closed=lst.get("closed") is True)
        for lst in _objects(board.get("lists"))
        if isinstance(lst.get("id"), str)
    }
    done_ids = {list_id for list_id, lst in lists.items() if rules.is_done(lst.name)}
    history = _read_history(_objects(board.get("actions")), rules, done_ids, warnings)
    return _Board(
        lists=lists,
        labels=_by_id(_objects(board.get("labels"))),
        members=_by_id(_objects(board.get("members"))),
        rules=rules,
        history=history,
    )


def normalise_board(
    board: Mapping[str, Any],
    *,
    source: str,
    stage_field: StageField = "label",
    done_lists: Sequence[str] = (),
    doing_lists: Sequence[str] = (),
) -> SourcePull:
    """Turn a board's cards into tasks in the board's card order, skipping malformed cards.

    `done_lists`/`doing_lists` are the config's `lists.done`/`lists.doing`, added to the
    defaults. Each skipped card is named in `SourcePull.warnings` and logged.
    """
    if stage_field not in ("label", "list"):
        raise ValueError(f"stage_field must be 'label' or 'list', not {stage_field!r}")
    warnings: list[str] = []
    lookups = _board_lookups(board, _ListRules.build(done_lists, doing_lists), warnings)
    tasks: list[Task] = []
    for position, card in enumerate(board.get("cards") or ()):
        if not isinstance(card, Mapping):
            _warn(warnings, f"card #{position + 1}: not a JSON object; skipped")
            continue
        try:
            task = _card_task(card, lookups, source=source, stage_field=stage_field)
        except _SkipCard as why:
            _warn(
                warnings, f"card {card.get('name')!r} (id {card.get('id') or '?'}): {why}; skipped"
            )
            continue
        if task is not None:
            tasks.append(task)
    return SourcePull(tasks=tuple(tasks), warnings=tuple(warnings))
