"""A Trello board through the REST API (v1), normalised exactly as its export file would be.

The live source fetches what an "Export as JSON" file holds — lists (archived ones too), labels,
members, open cards and the card actions behind `done_at`, `created` and `last_comment` — and
hands that board to `normalise_board`, so the API and the export agree card for card. Unlike
the export (capped at the newest 1000 actions), board actions are paged back to the first.

Gentleness (SPEC §9): every request goes through `PoliteClient` (host slots, retries, timeouts)
and two `Pacer`s shared by every source in the process: one per token (Trello allows 100
requests per 10 s) and one per API key (300 per 10 s). Credentials travel in the documented
`Authorization: OAuth …` header, never in URLs, and never appear in errors or logs.

Incremental sync: the cursor is the newest Trello timestamp seen (an action's date or a card's
`dateLastActivity`). A later pull reads the board's actions since the cursor, then the lists and
the open cards (three requests when nothing changed), and returns only the cards active since
(`complete=False`), with the ids of cards archived, deleted, moved off the board or left in an
archived list as `removed`. A changed card born before the cursor gets its own history (one
request each) so its `done_at`, `created` and `last_comment` match a full read; when more than
`MAX_CARD_HISTORIES` cards need that, one full read is cheaper and is done instead.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx

from connectors.http import Pacer, PoliteClient, RetryPolicy, Sleep, Unavailable, host_of
from connectors.secrets import reveal
from connectors.sources.base import PullRequest, SourceError
from connectors.sources.trello_cards import StageField, normalise_board
from stagecast.config import ConfigError, SecretRef
from stagecast.models import SourcePull
from stagecast.normalise import parse_moment

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Trello's documented maximum for `limit` on action lists; a full page means "there may be more".
ACTIONS_PAGE = 1000
CARD_FIELDS = (
    "id,shortLink,name,idList,idLabels,labels,idMembers,due,dueComplete,"
    "dateLastActivity,closed,shortUrl,url"
)
# What `normalise_board` reads from the history: creation, comments and moves between lists.
HISTORY_ACTIONS = "updateCard:idList,createCard,commentCard"
# What an incremental pull watches: anything that changes, adds or removes a card, and lists.
CHANGE_ACTIONS = (
    "createCard,copyCard,convertToCardFromCheckItem,commentCard,updateCard,deleteCard,"
    "moveCardFromBoard,moveCardToBoard,updateList"
)
# A card born since the cursor has its whole history in the actions since the cursor.
CREATION_ACTIONS = frozenset({"createCard", "copyCard", "convertToCardFromCheckItem"})
# Beyond this many cards needing their own history, one full read is cheaper and simpler.
MAX_CARD_HISTORIES = 10
_CREDENTIAL = re.compile(r"[A-Za-z0-9_\-]+")


@dataclass(frozen=True)
class Rate:
    """A documented request budget: `calls` per `period` seconds."""

    calls: int
    period: float


TOKEN_RATE = Rate(100, 10.0)
KEY_RATE = Rate(300, 10.0)
# We count when a request starts, Trello when it arrives: pace over a window 10% longer.
PACING_SLACK = 1.1


class PacerRegistry:
    """One `Pacer` per credential and rate, shared process-wide, keyed by a salted hash."""

    def __init__(self) -> None:
        self._salt = secrets.token_bytes(16)
        self._lock = threading.Lock()
        self._pacers: dict[tuple[str, Rate], Pacer] = {}

    def fingerprint(self, credential: str) -> str:
        """A key that identifies the credential in this process and reveals nothing of it."""
        return hmac.new(self._salt, credential.encode(), hashlib.sha256).hexdigest()

    def pacer(self, credential: str, rate: Rate) -> Pacer:
        """The pacer every source using this credential shares."""
        key = (self.fingerprint(credential), rate)
        with self._lock:
            if key not in self._pacers:
                self._pacers[key] = Pacer(rate.calls, rate.period * PACING_SLACK)
            return self._pacers[key]

    def fingerprints(self) -> list[str]:
        """The fingerprints held, for tests that check no raw credential is kept."""
        with self._lock:
            return [fingerprint for fingerprint, _ in self._pacers]


TOKEN_PACERS = PacerRegistry()
KEY_PACERS = PacerRegistry()


class TrelloLists(Protocol):
    """The config's `lists`: names added to the default done and doing lists."""

    @property
    def done(self) -> Sequence[str]: ...

    @property
    def doing(self) -> Sequence[str]: ...


class TrelloConfig(Protocol):
    """The attributes of a validated `type: trello` entry this source reads (read-only)."""

    @property
    def name(self) -> str | None: ...

    @property
    def url(self) -> str: ...

    @property
    def board(self) -> str: ...

    @property
    def key(self) -> SecretRef | str: ...

    @property
    def token(self) -> SecretRef | str: ...

    @property
    def stage_field(self) -> StageField: ...

    @property
    def lists(self) -> TrelloLists: ...

    @property
    def max_concurrency(self) -> int: ...

    @property
    def timeout_seconds(self) -> float: ...


class _BoardMissing(SourceError):
    """Trello answered 404: the board (or a card of it) is not there for this token."""


def _together(workers: int, calls: Mapping[str, Callable[[], T]]) -> dict[str, T]:
    """Run independent requests side by side (host slots still bound what is in flight)."""
    if not calls:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(calls)))) as pool:
        futures = {name: pool.submit(call) for name, call in calls.items()}
        return {name: future.result() for name, future in futures.items()}


def _stamp(when: datetime) -> str:
    """Trello's own timestamp form (`2019-06-12T22:19:30.732Z`), used as the cursor."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _moment(value: object) -> datetime | None:
    """A Trello timestamp, or None when it cannot be read (the card is warned about later)."""
    try:
        return parse_moment(value)
    except ValueError:
        return None


def _newest(items: Iterable[Any], field: str) -> datetime | None:
    """The latest readable timestamp in `field` of the mappings among `items`."""
    moments = (_moment(item.get(field)) for item in items if isinstance(item, Mapping))
    return max(filter(None, moments), default=None)


def _card_id(action: Mapping[str, Any]) -> str | None:
    """The id of the card an action is about, if it is about one."""
    data = action.get("data")
    card = data.get("card") if isinstance(data, Mapping) else None
    card_id = card.get("id") if isinstance(card, Mapping) else None
    return card_id if isinstance(card_id, str) else None


def _list_id(action: Mapping[str, Any]) -> str | None:
    """The list an `updateList` renamed, archived or restored: its cards' state may change."""
    data = action.get("data")
    if action.get("type") != "updateList" or not isinstance(data, Mapping):
        return None
    lst, old = data.get("list"), data.get("old")
    if not isinstance(old, Mapping) or not {"name", "closed"} & set(old):
        return None  # a list moved along the board changes no card
    list_id = lst.get("id") if isinstance(lst, Mapping) else None
    return list_id if isinstance(list_id, str) else None


def _named(field: str, value: object) -> str:
    """A credential field as errors may name it: its reference, never a literal value."""
    return f"`{field}` ({value})" if isinstance(value, SecretRef) else f"`{field}`"


def _unique(actions: Iterable[Any]) -> list[Any]:
    """Actions without repeats: pages and per-card histories can overlap."""
    seen: set[str] = set()
    kept = []
    for action in actions:
        action_id = action.get("id") if isinstance(action, Mapping) else None
        if isinstance(action_id, str):
            if action_id in seen:
                continue
            seen.add(action_id)
        kept.append(action)
    return kept


class _BoardApi:
    """The GET requests for one board, with Trello's answers turned into data or SourceError."""

    def __init__(self, http: PoliteClient, board: str, where: str, cfg: TrelloConfig) -> None:
        self.http, self.where, self.cfg = http, where, cfg
        self.base = f"/boards/{quote(board, safe='')}"
        self.warnings: list[str] = []

    def get(self, path: str, params: Mapping[str, str | int]) -> list[Any]:
        """GET one JSON array; retries are PoliteClient's, the meaning of errors is ours."""
        try:
            response = self.http.request("GET", path, params=dict(params))
        except Unavailable as err:
            raise SourceError(str(err)) from None
        if response.is_error:
            raise self._error(response, path)
        try:
            data = response.json()
        except ValueError:
            raise SourceError(f"{self.where}: {path} answered with something not JSON") from None
        if not isinstance(data, list):
            raise SourceError(f"{self.where}: {path} answered {type(data).__name__}, not a list")
        return data

    def _error(self, response: httpx.Response, path: str) -> SourceError:
        """Say what to check, naming the credential's reference and never its value."""
        status, text = response.status_code, response.text.strip()[:80].lower()
        key, token = _named("key", self.cfg.key), _named("token", self.cfg.token)
        if status in (401, 403):
            if "invalid key" in text:
                check = key
            elif "invalid token" in text or "expired" in text:
                check = token
            elif "permission" in text:
                check = f"that the token's user can see the board ({token})"
            else:
                check = f"{key} and {token}"
            return SourceError(f"{self.where}: Trello refused the credentials: check {check}")
        if status == 404:
            return _BoardMissing(f"{self.where}: not found (HTTP 404 for {path}); check `board`")
        if status == 400 and "invalid id" in text:
            return SourceError(
                f"{self.where}: Trello says the board id is not valid; check `board`"
            )
        return SourceError(f"{self.where}: HTTP {status} for {path}")

    def lists(self) -> list[Any]:
        """Every list, archived ones too: a card in an archived list is recognised and dropped."""
        return self.get(f"{self.base}/lists", {"filter": "all", "fields": "id,name,closed"})

    def labels(self) -> list[Any]:
        """The board's labels (Trello's default page is 50; ask for its maximum)."""
        return self.get(f"{self.base}/labels", {"fields": "id,name,color", "limit": 1000})

    def members(self) -> list[Any]:
        """The board's members, for assignees' names."""
        return self.get(f"{self.base}/members", {"fields": "id,fullName,username"})

    def cards(self) -> list[Any]:
        """The open (not archived) cards with the fields normalisation reads."""
        return self.get(f"{self.base}/cards", {"filter": "open", "fields": CARD_FIELDS})

    def actions(self, types: str, since: str | None = None) -> list[Any]:
        """The board's actions of `types`, newest first, paged back to the first (or `since`)."""
        return self._paged(f"{self.base}/actions", types, since)

    def newest_change(self) -> list[Any]:
        """The board's latest action of the kinds an incremental pull watches (one request)."""
        return self.get(f"{self.base}/actions", {"filter": CHANGE_ACTIONS, "limit": 1})

    def card_history(self, card_id: str) -> list[Any]:
        """One card's history; a card deleted meanwhile simply has none."""
        try:
            return self._paged(f"/cards/{quote(card_id, safe='')}/actions", HISTORY_ACTIONS, None)
        except _BoardMissing:
            return []

    def _paged(self, path: str, types: str, since: str | None) -> list[Any]:
        """Follow `before=<oldest id>` until a page comes back short."""
        params: dict[str, str | int] = {"filter": types, "limit": ACTIONS_PAGE}
        if since is not None:
            params["since"] = since
        collected: list[Any] = []
        while True:
            page = self.get(path, params)
            collected.extend(page)
            if len(page) < ACTIONS_PAGE:
                return collected
            oldest = page[-1].get("id") if isinstance(page[-1], Mapping) else None
            if not isinstance(oldest, str) or oldest == params.get("before"):
                self.warnings.append(f"{self.where}: action paging stopped at {oldest!r}")
                return collected
            params = {**params, "before": oldest}


@dataclass(frozen=True)
class _Changes:
    """What the actions and cards since the cursor say changed on the board."""

    cards: list[Mapping[str, Any]]
    needs_history: list[str]
    removed: list[str]

    @classmethod
    def read(
        cls, actions: list[Any], cards: list[Any], lists: list[Any], since: datetime
    ) -> _Changes:
        """Changed: active since the cursor, named by an action, or in a list that changed."""
        touched = [cid for a in actions if (cid := _card_id(a))]
        born = {_card_id(a) for a in actions if a.get("type") in CREATION_ACTIONS}
        changed_lists = {lid for a in actions if (lid := _list_id(a))}
        closed_lists = {lst.get("id") for lst in _objects(lists) if lst.get("closed") is True}
        open_cards = [c for c in _objects(cards) if isinstance(c.get("id"), str)]
        named = set(touched)
        changed = [
            c
            for c in open_cards
            if c["id"] in named or c.get("idList") in changed_lists or _active_since(c, since)
        ]
        open_ids = {c["id"] for c in open_cards}
        removed = [cid for cid in touched if cid not in open_ids]
        # A card whose list was archived since is no task any more (its list changed).
        removed += [c["id"] for c in changed if c.get("idList") in closed_lists]
        return cls(
            cards=changed,
            needs_history=[c["id"] for c in changed if c["id"] not in born],
            removed=list(dict.fromkeys(removed)),
        )


def _objects(items: Iterable[Any]) -> list[Mapping[str, Any]]:
    """The JSON objects among `items`; anything else is left to normalisation to warn about."""
    return [item for item in items if isinstance(item, Mapping)]


def _active_since(card: Mapping[str, Any], since: datetime) -> bool:
    """Touched after the cursor; an unreadable date counts, so normalisation can warn of it."""
    moment = _moment(card.get("dateLastActivity"))
    return moment is None or moment > since


class TrelloSource:
    """Tasks from one Trello board through the API; incremental after the first full read."""

    type = "trello"

    def __init__(
        self,
        cfg: TrelloConfig,
        *,
        retry: RetryPolicy | None = None,
        sleep: Sleep = time.sleep,
        token_rate: Rate = TOKEN_RATE,
        key_rate: Rate = KEY_RATE,
    ) -> None:
        self.cfg = cfg
        self.name: str = cfg.name or self.type
        self.url = (getattr(cfg, "url", None) or "https://api.trello.com").rstrip("/")
        self.board: str = cfg.board
        self.stage_field: StageField = cfg.stage_field or "label"
        lists = getattr(cfg, "lists", None)
        self.done_lists = tuple(getattr(lists, "done", None) or ())
        self.doing_lists = tuple(getattr(lists, "doing", None) or ())
        self.max_concurrency = int(getattr(cfg, "max_concurrency", None) or 8)
        self.fan_out = self.max_concurrency  # requests of one pull side by side
        timeout = float(getattr(cfg, "timeout_seconds", None) or 30.0)
        # The config's timeout wins even over an injected policy: no request goes without one.
        self.retry = replace(retry or RetryPolicy(base_delay=1.0), timeout=timeout)
        self.sleep = sleep
        self.token_rate, self.key_rate = token_rate, key_rate
        self.where = f"Trello board {self.board} at {host_of(self.url).removesuffix(':443')}"
        self.requests_made = 0

    def pull(self, request: PullRequest | None = None) -> SourcePull:
        """Read the board: everything when the request says so, else what changed since."""
        since = self._since(request)
        with self._api() as api:
            pull = self._full(api) if since is None else self._incremental(api, since)
            pull = replace(pull, warnings=(*pull.warnings, *api.warnings))
            self.requests_made += api.http.requests_made
        kind = "full" if pull.complete else "incremental"
        logger.info("%s: %s pull, %d tasks", self.where, kind, len(pull.tasks))
        return pull

    def _since(self, request: PullRequest | None) -> datetime | None:
        """The cursor's moment for an incremental pull; None means read everything."""
        if request is None or request.full or request.cursor is None:
            return None
        since = _moment(request.cursor)
        if since is None:
            logger.warning(
                "%s: cursor %r unreadable; reading everything", self.where, request.cursor
            )
        return since

    def _credentials(self) -> tuple[str, str]:
        """The key and token, checked enough that they can go into a header safely."""
        try:
            key, token = reveal(self.cfg.key), reveal(self.cfg.token)
        except ConfigError as err:
            raise SourceError(f"{self.where}: {err}") from None
        for field, value in (("key", key), ("token", token)):
            if not value or not _CREDENTIAL.fullmatch(value):
                named = _named(field, getattr(self.cfg, field))
                raise SourceError(
                    f"{self.where}: {named} is empty or has characters no Trello {field} has"
                )
        return str(key), str(token)

    @contextmanager
    def session(self) -> Iterator[PoliteClient]:
        """An HTTP session on the API (`<url>/1`): auth header, pacing, retries, host slots.
        For a pull, and for managing the board's webhooks with the same credentials."""
        key, token = self._credentials()
        pacers = (
            TOKEN_PACERS.pacer(token, self.token_rate),
            KEY_PACERS.pacer(key, self.key_rate),
        )
        with PoliteClient.open(
            self.where,
            base_url=f"{self.url}/1",
            headers={"Authorization": f'OAuth oauth_consumer_key="{key}", oauth_token="{token}"'},
            max_concurrency=self.max_concurrency,
            policy=self.retry,
            pacers=pacers,
            sleep=self.sleep,
        ) as http:
            yield http

    @contextmanager
    def _api(self) -> Iterator[_BoardApi]:
        """An HTTP session for one pull."""
        with self.session() as http:
            yield _BoardApi(http, self.board, self.where, self.cfg)

    def _normalise(self, board: Mapping[str, Any]) -> SourcePull:
        """The export's normalisation, so API and export agree card for card."""
        return normalise_board(
            board,
            source=self.name,
            stage_field=self.stage_field,
            done_lists=self.done_lists,
            doing_lists=self.doing_lists,
        )

    def _full(self, api: _BoardApi) -> SourcePull:
        """Everything: the whole history first, then the board as it is now."""
        # The newest change of any kind marks where the next incremental pull starts; history
        # alone would leave later non-history changes (renames, reorders) to be read again.
        watermark = api.newest_change()
        # Actions before cards: a change between the two shows in the cards and the cursor.
        actions = api.actions(HISTORY_ACTIONS)
        parts = _together(
            self.fan_out,
            {"lists": api.lists, "labels": api.labels, "members": api.members, "cards": api.cards},
        )
        pull = self._normalise({**parts, "actions": _unique(actions)})
        seen = [*watermark, *actions]
        newest = max(
            filter(None, [_newest(seen, "date"), _newest(parts["cards"], "dateLastActivity")]),
            default=None,
        )
        return replace(pull, cursor=_stamp(newest) if newest else None, complete=True)

    def _incremental(self, api: _BoardApi, since: datetime) -> SourcePull:
        """Only the cards active since the cursor, and those gone from the board."""
        cursor = _stamp(since)
        # Trello's `since` may include its boundary; the cursor's own moment is old news.
        actions = [
            a
            for a in _objects(api.actions(CHANGE_ACTIONS, since=cursor))
            if (_moment(a.get("date")) or since) > since
        ]
        parts = _together(self.fan_out, {"lists": api.lists, "cards": api.cards})
        changes = _Changes.read(actions, parts["cards"], parts["lists"], since)
        if len(changes.needs_history) > MAX_CARD_HISTORIES:
            logger.info("%s: %d cards changed; reading everything", self.where, len(changes.cards))
            return self._full(api)
        fetched = self._histories(api, changes)
        histories = [a for cid in changes.needs_history for a in fetched.get(cid, [])]
        board = {
            "lists": parts["lists"],
            "labels": [],  # cards carry their label objects; board labels are only a fallback
            "members": fetched.get("members", []),
            "cards": changes.cards,
            "actions": _unique([*actions, *histories]),
        }
        pull = self._normalise(board)
        newest = max(
            filter(
                None, [since, _newest(actions, "date"), _newest(parts["cards"], "dateLastActivity")]
            )
        )
        return replace(pull, cursor=_stamp(newest), complete=False, removed=tuple(changes.removed))

    def _histories(self, api: _BoardApi, changes: _Changes) -> dict[str, list[Any]]:
        """Members (when any card changed) and the histories of changed cards born earlier."""
        calls: dict[str, Callable[[], list[Any]]] = {}
        if changes.cards:
            calls["members"] = api.members
        for card_id in changes.needs_history:
            calls[card_id] = partial(api.card_history, card_id)
        return _together(self.fan_out, calls)
