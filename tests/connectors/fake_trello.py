"""A local Trello REST API (v1) for tests: serves boards, injects faults, records what it saw.

It speaks the documented shapes of the endpoints the live source uses:

- `GET /1/boards/{id}/lists`    `filter` open|closed|all|none, `fields`
- `GET /1/boards/{id}/labels`   `fields`, `limit` (default 50, at most 1000)
- `GET /1/boards/{id}/members`  `fields`
- `GET /1/boards/{id}/cards`    `filter` open|closed|all|visible|none, `fields`
- `GET /1/boards/{id}/actions`  `filter` (types, `updateCard:idList`-style too), `limit`
  (default 50, at most 1000), `before`/`since` (an action id or a date), newest first
- `GET /1/cards/{id}/actions`   the same, for one card
- `GET /1/boards/{id}`          the board itself (`fields`)
- webhooks: `POST /1/webhooks` (`idModel`, `callbackURL`, `description`; Trello's HEAD to the
  callback URL first, created only on a 200; a second one with the same callback, model and
  token is a 400), `GET /1/tokens/{token}/webhooks`, `PUT /1/webhooks/{id}` (`active`),
  `DELETE /1/webhooks/{id}`

A board is the mapping an "Export as JSON" file holds (`lists`, `labels`, `members`, `cards`,
`actions`), so a real export loads as it is. Auth is the key and token either in the
`Authorization: OAuth oauth_consumer_key="…", oauth_token="…"` header or as `key`/`token` query
parameters; a wrong one gets Trello's plain-text 401 (`invalid key` / `invalid token`).
Faults (429 with or without `Retry-After`, 5xx storms, slow answers) are consumed request by
request; every request is recorded with its arrival time, headers and body.

Like Trello, every change made through the helpers below (`move_card`, `comment`…) is delivered
to the board's active webhooks: a POST of `{"action", "model"}` signed with the fake's app
secret (`X-Trello-Webhook`: base64 HMAC-SHA1 over the body followed by the callback URL),
computed here from Trello's documentation, independently of stagecast's own check.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

from connectors.http import RetryPolicy
from connectors.sources.trello import TrelloSource
from stagecast.config import TrelloSourceConfig

Json = dict[str, Any]
Answer = tuple[int, dict[str, str], bytes]

MAX_LIMIT = 1000
NOT_FOUND = "The requested resource was not found."
# Documented action types the fake accepts in `filter` (a typo in a source is a 400, as live).
ACTION_TYPES = frozenset(
    {
        "addAttachmentToCard", "addChecklistToCard", "addMemberToBoard", "addMemberToCard",
        "addToOrganizationBoard", "commentCard", "convertToCardFromCheckItem", "copyCard",
        "createBoard", "createCard", "createList", "deleteAttachmentFromCard", "deleteCard",
        "disablePlugin", "disablePowerUp", "emailCard", "enablePlugin", "enablePowerUp",
        "moveCardFromBoard", "moveCardToBoard", "moveListFromBoard", "moveListToBoard",
        "removeChecklistFromCard", "removeMemberFromBoard", "removeMemberFromCard",
        "updateBoard", "updateCard", "updateCheckItemStateOnCard", "updateChecklist",
        "updateList",
    }
)  # fmt: skip
_OAUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')
_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")


def stamp(when: datetime) -> str:
    """Trello's timestamp form: UTC with milliseconds and a `Z`."""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def moment(text: str) -> datetime:
    """Read a Trello timestamp (or a date the client sent in `before`/`since`)."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def object_id(when: datetime, serial: int) -> str:
    """A Mongo-style id like Trello's: 8 hex digits of Unix seconds, then a serial."""
    return f"{int(when.timestamp()):08x}{serial:016x}"


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float
    status: int = 0


@dataclass
class Faults:
    """Knobs for the next requests; each count is used up one request at a time."""

    rate_limited: int = 0
    retry_after: str | None = None  # Trello documents no Retry-After; a proxy may add one
    server_errors: int = 0
    error_status: int = 500
    slow: int = 0
    slow_seconds: float = 0.0
    latency: float = 0.0  # added to every answer


@dataclass
class _Board:
    """A served board: the export's arrays, actions kept newest first."""

    data: Json
    actions: list[Json] = field(default_factory=list)


class FakeTrello:
    """A threaded local Trello on 127.0.0.1 with a fresh random key and token per instance."""

    def __init__(self, *, rate_limit: tuple[int, float] | None = None) -> None:
        self.key = secrets.token_hex(16)
        self.token = secrets.token_hex(32)
        self.secret = secrets.token_hex(32)  # the app's secret: Trello signs webhooks with it
        self.webhooks: dict[str, Json] = {}
        self.deliveries: list[tuple[str, int]] = []  # (callback URL, the answer's status)
        self.faults = Faults()
        self.rate_limit = rate_limit
        self.seen: list[Seen] = []
        self.in_flight = self.peak_in_flight = 0
        self.throttled = 0
        self._boards: dict[str, _Board] = {}
        self._lock = threading.Lock()
        self._arrivals: deque[float] = deque()
        self._serial = 0
        self._clock = datetime(2000, 1, 1, tzinfo=UTC)
        self._env: dict[str, str] = {}
        self._httpd: ThreadingHTTPServer | None = None

    # --- life cycle ---------------------------------------------------------------------

    def __enter__(self) -> FakeTrello:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        for name in self._env:
            os.environ.pop(name, None)

    @property
    def url(self) -> str:
        """The API base to configure (`url:`), without `/1`."""
        assert self._httpd is not None, "use the fake as a context manager"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    # --- boards -------------------------------------------------------------------------

    def add_board(self, board: Mapping[str, Any]) -> str:
        """Serve a board (an export's mapping, copied); returns its id."""
        data = copy.deepcopy(dict(board))
        data.setdefault("id", object_id(datetime.now(UTC), self._next_serial()))
        actions = [a for a in data.pop("actions", None) or [] if isinstance(a, dict)]
        actions.sort(key=lambda a: moment(a["date"]), reverse=True)  # stable for equal dates
        with self._lock:
            self._boards[data["id"]] = _Board(data, actions)
            for when in [a["date"] for a in actions[:1]] + _activities(data):
                self._clock = max(self._clock, moment(when))
        return str(data["id"])

    def load_export(self, path: Path) -> str:
        """Serve the board of an "Export as JSON" file."""
        return self.add_board(json.loads(path.read_text(encoding="utf-8-sig")))

    def board(self, board_id: str) -> Json:
        """The served board's live data (cards, lists…) for a test to edit in place."""
        return self._boards[board_id].data

    def actions_of(self, board_id: str) -> list[Json]:
        """The served board's actions, newest first."""
        return self._boards[board_id].actions

    def config(self, board_id: str, **overrides: Any) -> TrelloSourceConfig:
        """A validated `type: trello` entry pointing here, its secrets in env variables."""
        suffix = secrets.token_hex(4).upper()
        names = {"key": f"FAKE_TRELLO_KEY_{suffix}", "token": f"FAKE_TRELLO_TOKEN_{suffix}"}
        for field_name, env_name in names.items():
            self._env[env_name] = os.environ[env_name] = getattr(self, field_name)
        values: Json = {
            "type": "trello",
            "url": self.url,
            "board": board_id,
            "key": f"env:{names['key']}",
            "token": f"env:{names['token']}",
        }
        return TrelloSourceConfig.model_validate({**values, **overrides})

    # --- what happens on a board (each change also leaves Trello's action) --------------

    def move_card(self, board_id: str, card_id: str, list_id: str) -> Json:
        """Move a card to another list: `updateCard` with listBefore/listAfter."""
        card, lists = self._card(board_id, card_id), self._lists(board_id)
        before = lists[card["idList"]]
        data = {
            "card": {"id": card_id, "idList": list_id, "shortLink": card.get("shortLink")},
            "old": {"idList": before["id"]},
            "listBefore": {"id": before["id"], "name": before["name"]},
            "listAfter": {"id": list_id, "name": lists[list_id]["name"]},
        }
        card["idList"] = list_id
        return self._act(board_id, "updateCard", data, card)

    def comment(self, board_id: str, card_id: str, text: str) -> Json:
        """Comment on a card: `commentCard` with the text."""
        card = self._card(board_id, card_id)
        return self._act(board_id, "commentCard", {"card": {"id": card_id}, "text": text}, card)

    def archive_card(self, board_id: str, card_id: str) -> Json:
        """Archive a card: `updateCard` with `old.closed` false."""
        card = self._card(board_id, card_id)
        card["closed"] = True
        data = {"card": {"id": card_id, "closed": True}, "old": {"closed": False}}
        return self._act(board_id, "updateCard", data, card)

    def delete_card(self, board_id: str, card_id: str) -> Json:
        """Delete a card: it is gone; `deleteCard` remains."""
        cards = self.board(board_id)["cards"]
        cards.remove(self._card(board_id, card_id))
        return self._act(board_id, "deleteCard", {"card": {"id": card_id}}, None)

    def add_card(self, board_id: str, short: str, list_id: str, **fields: Any) -> Json:
        """Create a card at the end of the board: `createCard`."""
        when = self._tick()
        card = {
            "id": object_id(when, self._next_serial()),
            "shortLink": short,
            "name": f"Card {short}",
            "idList": list_id,
            "idLabels": [],
            "labels": [],
            "idMembers": [],
            "due": None,
            "dueComplete": False,
            "dateLastActivity": stamp(when),
            "closed": False,
            "shortUrl": f"https://trello.com/c/{short}",
            "url": f"https://trello.com/c/{short}/1-card",
            **fields,
        }
        self.board(board_id)["cards"].append(card)
        data = {"card": {"id": card["id"], "shortLink": short}, "list": {"id": list_id}}
        self._act(board_id, "createCard", data, card, when)
        return card

    def archive_list(self, board_id: str, list_id: str) -> Json:
        """Archive a list: `updateList` with `old.closed` false; its cards stay open."""
        lst = self._lists(board_id)[list_id]
        lst["closed"] = True
        data = {
            "list": {"id": list_id, "name": lst["name"], "closed": True},
            "old": {"closed": False},
        }
        return self._act(board_id, "updateList", data, None)

    def _card(self, board_id: str, card_id: str) -> Json:
        return next(c for c in self.board(board_id)["cards"] if c.get("id") == card_id)

    def _lists(self, board_id: str) -> dict[str, Json]:
        return {lst["id"]: lst for lst in self.board(board_id)["lists"]}

    def _act(
        self,
        board_id: str,
        kind: str,
        data: Json,
        card: Json | None,
        when: datetime | None = None,
    ) -> Json:
        """Record an action now (later than anything served) and touch its card."""
        when = when or self._tick()
        action = {
            "id": object_id(when, self._next_serial()),
            "type": kind,
            "date": stamp(when),
            "data": {**data, "board": {"id": board_id}},
        }
        if card is not None:
            card["dateLastActivity"] = stamp(when)
        with self._lock:
            self._boards[board_id].actions.insert(0, action)
        self._deliver(board_id, action)
        return action

    # --- webhooks -----------------------------------------------------------------------

    def _deliver(self, board_id: str, action: Json) -> None:
        """POST the action to each active webhook on the board, signed as Trello signs."""
        with self._lock:
            hooks = [h for h in self.webhooks.values() if h["idModel"] == board_id]
        board = self.board(board_id)
        summary = {"id": board_id, "name": board.get("name"), "shortLink": board.get("shortLink")}
        payload = {
            "action": {**action, "data": {**action["data"], "board": summary}},
            "model": _board_model(board),
        }
        body = json.dumps(payload, ensure_ascii=False).encode()
        for hook in hooks:
            if not hook["active"]:
                continue
            callback = hook["callbackURL"]
            signed = trello_signature(self.secret, body, callback)
            headers = {"Content-Type": "application/json", "X-Trello-Webhook": signed}
            try:
                answer = httpx.post(callback, content=body, headers=headers, timeout=10)
                status = answer.status_code
            except httpx.HTTPError:
                status = 0
            with self._lock:
                self.deliveries.append((callback, status))

    def _webhook_call(self, seen: Seen) -> Answer:
        """`POST /1/webhooks`, `PUT|DELETE /1/webhooks/{id}`, as Trello answers them."""
        params = {k: v[-1] for k, v in seen.query.items()}
        if seen.body and "json" in seen.headers.get("content-type", ""):
            params.update({k: str(v) for k, v in json.loads(seen.body).items()})
        parts = [unquote(p) for p in seen.path.strip("/").split("/")]
        if seen.method == "POST" and parts == ["1", "webhooks"]:
            return self._create_webhook(params)
        if len(parts) == 3 and parts[:2] == ["1", "webhooks"]:
            with self._lock:
                hook = self.webhooks.get(parts[2])
                if hook is None:
                    return _text(404 if _OBJECT_ID.fullmatch(parts[2]) else 400, _missing(parts[2]))
                if seen.method == "DELETE":
                    del self.webhooks[parts[2]]
                    return _json({"_value": None})
                if seen.method == "PUT":
                    if "active" in params:
                        hook["active"] = params["active"].lower() == "true"
                    return _json(hook)
        return _text(404, f"Cannot {seen.method} {seen.path}")

    def _create_webhook(self, params: dict[str, str]) -> Answer:
        """Trello's checks, the HEAD to the callback URL among them, then the webhook."""
        model, callback = params.get("idModel", ""), params.get("callbackURL", "")
        if model not in self._boards:
            return _text(400, "invalid value for idModel")
        if not callback.startswith(("http://", "https://")):
            return _text(400, "invalid value for callbackURL")
        with self._lock:
            taken = any(
                h["idModel"] == model and h["callbackURL"] == callback
                for h in self.webhooks.values()
            )
        if taken:
            return _text(400, "A webhook with that callback, model, and token already exists")
        try:
            status = str(httpx.head(callback, timeout=10).status_code)
        except httpx.HTTPError as err:
            status = type(err).__name__
        if status != "200":
            return _text(400, f"URL ({callback}) did not return 200 status code, got {status}")
        hook = {
            "id": object_id(datetime.now(UTC), self._next_serial()),
            "description": params.get("description", ""),
            "idModel": model,
            "callbackURL": callback,
            "active": True,
            "consecutiveFailures": 0,
            "firstConsecutiveFailDate": None,
        }
        with self._lock:
            self.webhooks[hook["id"]] = hook
        return _json(hook)

    def _tick(self) -> datetime:
        """A moment after every timestamp served so far, close to now."""
        with self._lock:
            now = datetime.now(UTC)
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # Trello keeps ms
            self._clock = max(now, self._clock + timedelta(milliseconds=1))
            return self._clock

    def _next_serial(self) -> int:
        with self._lock:
            self._serial += 1
            return self._serial

    # --- what the server saw ------------------------------------------------------------

    def counts(self) -> Counter[str]:
        """Requests per path (without the query)."""
        with self._lock:
            return Counter(seen.path for seen in self.seen)

    def reset(self) -> None:
        """Forget the requests seen so far (before measuring a second pull)."""
        with self._lock:
            self.seen.clear()
            self.peak_in_flight = self.in_flight

    # --- answering ----------------------------------------------------------------------

    def answer(self, seen: Seen) -> Answer:
        """The status, headers and body for one request, faults first."""
        fault = self._fault(seen)
        if fault is not None:
            return fault
        refused = self._refuse(seen)
        if refused is not None:
            return refused
        if seen.method != "GET":
            return self._webhook_call(seen)
        return self._route(seen.path, {k: v[-1] for k, v in seen.query.items()})

    def _fault(self, seen: Seen) -> Answer | None:
        """An injected 429 or 5xx, or Trello's own 429 when the token's window is full."""
        with self._lock:
            if self.faults.rate_limited > 0:
                self.faults.rate_limited -= 1
                return _rate_limited(self.faults.retry_after)
            if self.faults.server_errors > 0:
                self.faults.server_errors -= 1
                return _text(self.faults.error_status, "Internal Server Error")
            if self.rate_limit is not None:
                calls, period = self.rate_limit
                while self._arrivals and seen.at - self._arrivals[0] >= period:
                    self._arrivals.popleft()
                if len(self._arrivals) >= calls:
                    self.throttled += 1
                    return _rate_limited(None)
                self._arrivals.append(seen.at)
        return None

    def _refuse(self, seen: Seen) -> Answer | None:
        """Trello's plain-text 401 for a wrong or missing key or token."""
        given = dict(_OAUTH_PARAM.findall(seen.headers.get("authorization", "")))
        key = given.get("oauth_consumer_key") or _last(seen.query, "key")
        token = given.get("oauth_token") or _last(seen.query, "token")
        if key != self.key:
            return _text(401, "invalid key")
        if token != self.token:
            return _text(401, "invalid token")
        return None

    def _route(self, path: str, query: dict[str, str]) -> Answer:
        """Dispatch `/1/boards/{id}/{what}` and `/1/cards/{id}/actions`."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) == 4 and parts[:2] == ["1", "cards"] and parts[3] == "actions":
            return self._card_actions(parts[2], query)
        if len(parts) == 4 and parts[:2] == ["1", "tokens"] and parts[3] == "webhooks":
            if parts[2] != self.token:
                return _text(401, "invalid token")
            with self._lock:
                return _json(list(self.webhooks.values()))
        if len(parts) == 3 and parts[:2] == ["1", "boards"]:
            found = self._find(parts[2])
            if found is None:
                return _text(404 if _OBJECT_ID.fullmatch(parts[2]) else 400, _missing(parts[2]))
            return _json(_fields(_board_model(found.data), query))
        if len(parts) != 4 or parts[:2] != ["1", "boards"]:
            return _text(404, f"Cannot GET {path}")
        board = self._find(parts[2])
        if board is None:
            return _text(404 if _OBJECT_ID.fullmatch(parts[2]) else 400, _missing(parts[2]))
        handler = {
            "lists": self._board_lists,
            "labels": self._board_labels,
            "members": self._board_members,
            "cards": self._board_cards,
            "actions": self._board_actions,
        }.get(parts[3])
        if handler is None:
            return _text(404, f"Cannot GET {path}")
        return handler(board, query)

    def _find(self, ident: str) -> _Board | None:
        """A board by id or shortLink."""
        with self._lock:
            for board in self._boards.values():
                if ident in (board.data.get("id"), board.data.get("shortLink")):
                    return board
        return None

    def _board_lists(self, board: _Board, query: dict[str, str]) -> Answer:
        wanted: Callable[[Json], bool] | None = {
            "all": lambda lst: True,
            "open": lambda lst: lst.get("closed") is not True,
            "closed": lambda lst: lst.get("closed") is True,
            "none": lambda lst: False,
        }.get(query.get("filter", "open"))
        if wanted is None:
            return _text(400, "invalid value for filter")
        lists = [lst for lst in _dicts(board.data.get("lists")) if wanted(lst)]
        return _json([_fields(lst, query) for lst in lists])

    def _board_labels(self, board: _Board, query: dict[str, str]) -> Answer:
        limit = _limit(query, default=50)
        if limit is None:
            return _text(400, "invalid value for limit")
        labels = _dicts(board.data.get("labels"))[:limit]
        return _json([_fields(label, query) for label in labels])

    def _board_members(self, board: _Board, query: dict[str, str]) -> Answer:
        return _json([_fields(m, query) for m in _dicts(board.data.get("members"))])

    def _board_cards(self, board: _Board, query: dict[str, str]) -> Answer:
        closed_lists = {
            lst.get("id") for lst in _dicts(board.data.get("lists")) if lst.get("closed") is True
        }
        wanted: Callable[[Json], bool] | None = {
            "all": lambda c: True,
            "open": lambda c: c.get("closed") is not True,
            "closed": lambda c: c.get("closed") is True,
            "visible": lambda c: (
                c.get("closed") is not True and c.get("idList") not in closed_lists
            ),
            "none": lambda c: False,
        }.get(query.get("filter", "visible"))
        if wanted is None:
            return _text(400, "invalid value for filter")
        cards = board.data.get("cards") or []
        # A malformed card (not an object) is served as it is: the client must cope.
        served = [c for c in cards if not isinstance(c, dict) or wanted(c)]
        return _json([_fields(c, query) if isinstance(c, dict) else c for c in served])

    def _board_actions(self, board: _Board, query: dict[str, str]) -> Answer:
        return _actions_page(board.actions, query)

    def _card_actions(self, card_id: str, query: dict[str, str]) -> Answer:
        with self._lock:
            boards = list(self._boards.values())
        for board in boards:
            cards = _dicts(board.data.get("cards"))
            mine = [a for a in board.actions if _about(a) == card_id]
            if mine or any(c.get("id") == card_id for c in cards):
                return _actions_page(mine, query)
        return _text(404 if _OBJECT_ID.fullmatch(card_id) else 400, _missing(card_id))


class _Handler(BaseHTTPRequestHandler):
    """Records each request, asks the fake for the answer, keeps the in-flight count."""

    fake: FakeTrello
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms stalls

    def _serve(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        seen = Seen(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            at=time.monotonic(),
        )
        with fake._lock:
            fake.seen.append(seen)
            fake.in_flight += 1
            fake.peak_in_flight = max(fake.peak_in_flight, fake.in_flight)
        try:
            status, headers, payload = fake.answer(seen)
            seen.status = status
            time.sleep(fake.faults.latency + self._slowness())
        finally:
            with fake._lock:  # before answering: the client frees its slot on the answer
                fake.in_flight -= 1
        self._send(status, headers, payload)

    def _slowness(self) -> float:
        with self.fake._lock:
            if self.fake.faults.slow <= 0:
                return 0.0
            self.fake.faults.slow -= 1
            return self.fake.faults.slow_seconds

    def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test)

    do_GET = do_POST = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `FakeTrello.seen` instead."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer is expected in timeout tests; stay quiet."""


# --- payload helpers ------------------------------------------------------------------------


def trello_signature(secret: str, body: bytes, callback: str) -> str:
    """What Trello puts in `X-Trello-Webhook`: base64(HMAC-SHA1(secret, body + callback URL))."""
    mac = hmac.new(secret.encode("utf-8"), body + callback.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def _board_model(board: Json) -> Json:
    """The board as a webhook's `model` and `GET /1/boards/{id}` show it."""
    short = board.get("shortLink") or board.get("id")
    return {
        "id": board.get("id"),
        "name": board.get("name"),
        "desc": "",
        "closed": False,
        "shortLink": board.get("shortLink"),
        "url": f"https://trello.com/b/{short}/board",
        "shortUrl": f"https://trello.com/b/{short}",
    }


def _json(payload: Any) -> Answer:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return 200, {"Content-Type": "application/json; charset=utf-8"}, body


def _text(status: int, text: str) -> Answer:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode()


def _rate_limited(retry_after: str | None) -> Answer:
    """Trello's documented 429 body for the token limit."""
    body = json.dumps({"error": "API_TOKEN_LIMIT_EXCEEDED", "message": "Rate limit exceeded"})
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return 429, headers, body.encode()


def _missing(ident: str) -> str:
    return NOT_FOUND if _OBJECT_ID.fullmatch(ident) else "invalid id"


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _dicts(items: Any) -> list[Json]:
    return [item for item in items or [] if isinstance(item, dict)]


def _activities(board: Json) -> list[str]:
    """Every card's `dateLastActivity` that reads as a timestamp."""
    found = []
    for card in _dicts(board.get("cards")):
        try:
            moment(card["dateLastActivity"])
        except (KeyError, TypeError, ValueError):
            continue
        found.append(card["dateLastActivity"])
    return found


def _fields(item: Json, query: dict[str, str]) -> Json:
    """Only the asked `fields` (and `id`, always), as Trello does; `all` or none: everything."""
    asked = query.get("fields", "all")
    if asked == "all":
        return item
    names = {"id", *asked.split(",")}
    return {k: v for k, v in item.items() if k in names}


def _limit(query: dict[str, str], default: int) -> int | None:
    """`limit` within 0…1000, else None (Trello answers 400)."""
    try:
        limit = int(query.get("limit", default))
    except ValueError:
        return None
    return limit if 0 <= limit <= MAX_LIMIT else None


def _about(action: Json) -> str | None:
    card = (action.get("data") or {}).get("card") or {}
    return card.get("id")


def _type_matches(action: Json, wanted: set[str]) -> bool:
    """`updateCard` matches every card update; `updateCard:idList` only those changing idList."""
    kind = action.get("type")
    if "all" in wanted or kind in wanted:
        return True
    old = (action.get("data") or {}).get("old") or {}
    return any(f"{kind}:{name}" in wanted for name in old)


def _cut(actions: list[Json], bound: str, *, older: bool) -> list[Json]:
    """Actions older (`before`) or newer (`since`) than an action id or a date."""
    ids = [a.get("id") for a in actions]
    if bound in ids:
        at = ids.index(bound)
        return actions[at + 1 :] if older else actions[:at]
    when = (
        datetime.fromtimestamp(int(bound[:8], 16), UTC)
        if _OBJECT_ID.fullmatch(bound)
        else moment(bound)
    )
    return [a for a in actions if (moment(a["date"]) < when if older else moment(a["date"]) > when)]


def _actions_page(actions: list[Json], query: dict[str, str]) -> Answer:
    """One page of actions, newest first, as `filter`, `before`, `since` and `limit` say."""
    wanted = set(query.get("filter", "all").split(","))
    if not all(t == "all" or t.split(":")[0] in ACTION_TYPES for t in wanted):
        return _text(400, "invalid value for filter")
    limit = _limit(query, default=50)
    if limit is None:
        return _text(400, "invalid value for limit")
    chosen = [a for a in actions if _type_matches(a, wanted)]
    try:
        if "before" in query:
            chosen = _cut(chosen, query["before"], older=True)
        if "since" in query:
            chosen = _cut(chosen, query["since"], older=False)
    except ValueError:
        return _text(400, "invalid value for before or since")
    return _json(chosen[:limit])


# --- a small standard board for the contract suite ------------------------------------------

TODO, DOING, DONE, BLOCKED, ARCHIVED = (f"5f00000000000000000000{n:02d}" for n in range(1, 6))
STANDARD_KEYS = ("todoCard", "doingCrd", "doneCard", "blockCrd", "unicode1")


def standard_board() -> Json:
    """Five tasks (todo, in progress, done by a move, blocked by its list, unicode) and two
    cards that are not tasks (archived, in an archived list)."""
    lists = [
        {"id": TODO, "name": "To Do", "closed": False},
        {"id": DOING, "name": "Doing", "closed": False},
        {"id": DONE, "name": "Done", "closed": False},
        {"id": BLOCKED, "name": "Blocked", "closed": False},
        {"id": ARCHIVED, "name": "Old ideas", "closed": True},
    ]
    labels = [{"id": "5f0000000000000000000a01", "name": "设计", "color": "green"}]
    members = [{"id": "5f0000000000000000000b01", "fullName": "王工", "username": "wang"}]

    def card(n: int, short: str, list_id: str, **fields: Any) -> Json:
        return {
            "id": f"5f1000{n:018x}",
            "shortLink": short,
            "name": f"Card {short}",
            "idList": list_id,
            "idLabels": [],
            "labels": [],
            "idMembers": [],
            "due": None,
            "dueComplete": False,
            "dateLastActivity": "2020-07-20T08:00:00.000Z",
            "closed": False,
            "shortUrl": f"https://trello.com/c/{short}",
            **fields,
        }

    cards = [
        card(1, "todoCard", TODO, due="2020-08-01T10:00:00.000Z"),
        card(2, "doingCrd", DOING, idMembers=[members[0]["id"]]),
        card(3, "doneCard", DONE),
        card(4, "blockCrd", BLOCKED),
        card(5, "unicode1", TODO, name="设计评审 ✅", labels=labels, idLabels=[labels[0]["id"]]),
        card(6, "archived", TODO, closed=True),
        card(7, "inOldLst", ARCHIVED),
    ]
    move = {
        "id": "5f15a00000000000000000c1",
        "type": "updateCard",
        "date": "2020-07-19T09:30:00.000Z",
        "data": {
            "card": {"id": cards[2]["id"], "idList": DONE},
            "old": {"idList": DOING},
            "listBefore": {"id": DOING, "name": "Doing"},
            "listAfter": {"id": DONE, "name": "Done"},
        },
    }
    board = {"id": "5f0000000000000000000001", "name": "Contract", "shortLink": "Contract"}
    return {**board, "lists": lists, "labels": labels, "members": members, "cards": cards,
            "actions": [move]}  # fmt: skip


@contextmanager
def contract_case() -> Iterator[tuple[TrelloSource, tuple[str, ...]]]:
    """A live Trello source on a local server with the standard board, and the task keys
    (in board order) a full pull must return: one todo, one in progress, one done, one
    blocked, one with unicode."""
    with FakeTrello() as fake:
        cfg = fake.config(fake.add_board(standard_board()), name="trello", timeout_seconds=5)
        quick = RetryPolicy(tries=3, base_delay=0.01, max_delay=0.05)
        yield TrelloSource(cfg, retry=quick, sleep=lambda seconds: None), STANDARD_KEYS
