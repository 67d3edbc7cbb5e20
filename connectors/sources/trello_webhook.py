"""Trello's webhooks: the signature `stagecast listen` checks, which board a delivery is about,
and creating, listing and removing a configured board's webhooks (`stagecast webhooks`).

What Trello documents:
- every delivery is signed: `X-Trello-Webhook` = base64(HMAC-SHA1(application secret, raw body
  followed by the exact callback URL the webhook was created with)). The secret is the API
  key's ("OAuth secret" on the Power-Up admin's API key tab); the URL is the public one Trello
  calls, so a reverse proxy in front of `listen` does not change it;
- creating a webhook (`POST /1/webhooks` with `idModel`, `callbackURL`, `description`) makes
  Trello send a HEAD to the callback URL first, and the webhook is only created on a 200;
- webhooks belong to the token that created them: `GET /1/tokens/{token}/webhooks` lists them,
  `DELETE /1/webhooks/{id}` removes one, `PUT /1/webhooks/{id}` with `active` resumes one
  that Trello switched off after failing deliveries;
- a delivery's body is `{"action": {...}, "model": {...}}`: for a board's webhook `model` is
  the board (`id`, `shortUrl`…) and `action.data.board` has its `id` and `shortLink`; a card
  moved to another list is an `updateCard` with `data.listBefore` and `data.listAfter`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from connectors.http import PoliteClient, Unavailable
from connectors.secrets import reveal
from connectors.sources.base import SourceError
from connectors.sources.trello import TrelloConfig, TrelloSource

SIGNATURE_HEADER = "X-Trello-Webhook"
CALLBACK_PATH = "/webhooks/trello"


def callback_url(public_url: str) -> str:
    """The callback URL Trello calls and signs, under the public base URL."""
    return public_url.rstrip("/") + CALLBACK_PATH


def signature(secret: str, body: bytes, callback: str) -> str:
    """The `X-Trello-Webhook` value Trello sends for `body` delivered to `callback`."""
    digest = hmac.new(secret.encode(), body + callback.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signed_by(secret: str, body: bytes, callback: str, header: str | None) -> bool:
    """Whether `header` is Trello's signature of `body` for `callback`, in constant time."""
    if not header:
        return False
    given = header.strip().encode("ascii", "replace")
    return hmac.compare_digest(given, signature(secret, body, callback).encode())


@dataclass(frozen=True)
class TrelloEvent:
    """What a delivery is about: the action's type and every name of its board."""

    kind: str
    boards: frozenset[str]


def read_event(body: bytes) -> TrelloEvent | None:
    """The event of a verified body; None when it is not a JSON object.

    The board is known by its id and shortLink (a config's `board` may be either): from the
    model (a board's webhook), its `shortUrl`, and the action's `data.board`.
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, Mapping):
        return None
    action, model = _mapping(payload.get("action")), _mapping(payload.get("model"))
    board = _mapping(_mapping(action.get("data")).get("board"))
    short_url = model.get("shortUrl")
    names = {model.get("id"), board.get("id"), board.get("shortLink")}
    if isinstance(short_url, str):
        names.add(short_url.rstrip("/").rpartition("/")[2])
    kind = action.get("type")
    return TrelloEvent(
        kind=kind if isinstance(kind, str) else "unknown",
        boards=frozenset(n for n in names if isinstance(n, str) and n),
    )


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# --- managing a board's webhooks -----------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    """One of the token's webhooks, as Trello lists it."""

    id: str
    model: str
    callback: str
    description: str
    active: bool

    @classmethod
    def read(cls, item: Mapping[str, Any]) -> Webhook:
        return cls(
            id=str(item.get("id", "")),
            model=str(item.get("idModel", "")),
            callback=str(item.get("callbackURL", "")),
            description=str(item.get("description") or ""),
            active=item.get("active") is not False,
        )


@dataclass(frozen=True)
class Outcome:
    """What `register` or `remove` did to one webhook: created, kept, resumed or removed."""

    done: str
    webhook: Webhook


class BoardWebhooks:
    """The webhooks on one configured board, through the source's own credentials, client
    and rules (host slots, pacing per token and key, retries). Errors name the board and the
    credential's reference, never a secret: the token sits in a path here, so no path is
    ever put into a message."""

    def __init__(self, cfg: TrelloConfig, source: TrelloSource | None = None) -> None:
        self.cfg = cfg
        self.source = source or TrelloSource(cfg)
        self.where = self.source.where

    @contextmanager
    def _session(self) -> Iterator[_Api]:
        with self.source.session() as http:
            yield _Api(http, self.where, str(reveal(self.cfg.token)))

    def listed(self) -> tuple[str, list[Webhook]]:
        """The board's id and the token's webhooks on it (whatever their callback)."""
        with self._session() as api:
            board = api.board_id(self.cfg.board)
            return board, [w for w in api.webhooks() if w.model == board]

    def register(self, callback: str, description: str) -> Outcome:
        """The board's webhook to `callback`: an existing one is kept (resumed if Trello had
        switched it off), else one is created. Creating makes Trello check the URL with a
        HEAD, so `listen` must already answer there."""
        with self._session() as api:
            board = api.board_id(self.cfg.board)
            for webhook in api.webhooks():
                if webhook.model == board and webhook.callback == callback:
                    if webhook.active:
                        return Outcome("kept", webhook)
                    return Outcome("resumed", api.resume(webhook))
            return Outcome("created", api.create(board, callback, description))

    def remove(self, callback: str) -> list[Outcome]:
        """Remove the board's webhooks to `callback` (other integrations' webhooks stay)."""
        with self._session() as api:
            board = api.board_id(self.cfg.board)
            mine = [w for w in api.webhooks() if w.model == board and w.callback == callback]
            for webhook in mine:
                api.delete(webhook)
            return [Outcome("removed", w) for w in mine]


class _Api:
    """Trello's webhook endpoints, with answers turned into data or SourceError."""

    def __init__(self, http: PoliteClient, where: str, token: str) -> None:
        self.http, self.where, self._token = http, where, token

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except Unavailable as err:
            raise SourceError(str(err)) from None
        if response.is_error:
            raise SourceError(f"{self.where}: {what}: {_refusal(response)}")
        try:
            return response.json()
        except ValueError:
            raise SourceError(f"{self.where}: {what}: the answer is not JSON") from None

    def board_id(self, board: str) -> str:
        """The board's id: the config may give its shortLink, a webhook needs the id."""
        found = self._call(
            "GET", f"/boards/{quote(board, safe='')}", "reading the board", params={"fields": "id"}
        )
        if not isinstance(found, Mapping) or not isinstance(found.get("id"), str):
            raise SourceError(f"{self.where}: reading the board: no id in Trello's answer")
        return str(found["id"])

    def webhooks(self) -> list[Webhook]:
        """Every webhook of the token (Trello keeps them per token, not per board)."""
        path = f"/tokens/{quote(self._token, safe='')}/webhooks"
        found = self._call("GET", path, "listing the token's webhooks")
        items = found if isinstance(found, list) else []
        return [Webhook.read(item) for item in items if isinstance(item, Mapping)]

    def create(self, board: str, callback: str, description: str) -> Webhook:
        params = {"idModel": board, "callbackURL": callback, "description": description}
        return Webhook.read(self._call("POST", "/webhooks", "creating the webhook", params=params))

    def resume(self, webhook: Webhook) -> Webhook:
        path = f"/webhooks/{quote(webhook.id, safe='')}"
        answer = self._call("PUT", path, "resuming the webhook", params={"active": "true"})
        return Webhook.read(answer)

    def delete(self, webhook: Webhook) -> None:
        self._call("DELETE", f"/webhooks/{quote(webhook.id, safe='')}", "removing the webhook")


def _refusal(response: httpx.Response) -> str:
    """Trello's reason, in words an operator can act on; its text is short and plain (no
    secrets: Trello never echoes credentials), and is cut to one line."""
    status = response.status_code
    text = " ".join(response.text.split())[:200]
    if status in (401, 403):
        return f"Trello refused the key or token (HTTP {status}: {text or 'no reason given'})"
    if status == 404:
        return "not found (HTTP 404); check `board`"
    return f"HTTP {status}: {text}" if text else f"HTTP {status}"
