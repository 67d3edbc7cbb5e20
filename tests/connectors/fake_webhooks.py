"""Local stand-ins for the five chat webhooks, answering as the platforms document, for tests.

One threaded HTTP server on 127.0.0.1 plays every platform at its real path:
- Slack `/services/T…/B…/<token>`: `200 ok`; `400 invalid_blocks` past 50 blocks or 3000
  characters in a section; `404 no_service` for an unknown token.
- Teams Workflows `/workflows/<id>/triggers/manual/paths/invoke?…&sig=<token>`: `202`; 413 past
  28 KB; 400 for a body that is not a message with an Adaptive Card; 401 for a wrong `sig`.
- WeCom `/cgi-bin/webhook/send?key=<token>`: `{"errcode": 0}`; 40058 past 4096 bytes of
  content; 93000 for an unknown key.
- Feishu `/open-apis/bot/v2/hook/<token>`: `{"code": 0}`; checks `timestamp`/`sign` in the body
  when the bot has a secret (19021), the keyword (19024), 20 KB (9499); 19001 for an unknown
  token.
- DingTalk `/robot/send?access_token=<token>`: `{"errcode": 0}`; checks `timestamp`/`sign` in the
  query (310000 sign not match), the keyword (310000 keywords not in content), 20 000 bytes
  (460101); 300005 for an unknown token.

Every request is recorded (`Bot.received`; accepted ones in `Bot.delivered`). Knobs, per bot:
`rate_limit` (429 + Retry-After), `limited` (the platform's rate-limit code in a 200),
`error_code` (its bad-configuration answer), `storm` (5xx), `slow` (answers late), and `answer`
for anything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CARD = "application/vnd.microsoft.card.adaptive"
TEAMS_QUERY = "api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig="


@dataclass
class Request:
    """One request as a bot saw it."""

    path: str
    query: dict[str, str]
    body: Any
    raw: bytes


@dataclass
class Answer:
    """A scripted answer: status, body (dict → JSON, str → text), headers, delay first."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    normal: bool = False  # answer normally, after `delay`


@dataclass
class Bot:
    """One webhook of one platform."""

    platform: str
    token: str
    base: str
    secret: str | None = None
    keyword: str | None = None
    received: list[Request] = field(default_factory=list)
    delivered: list[Request] = field(default_factory=list)
    script: deque[Answer] = field(default_factory=deque)

    @property
    def url(self) -> str:
        """The webhook URL, shaped like the platform's."""
        return {
            "slack": f"{self.base}/services/T0STAGE01/B0STAGE02/{self.token}",
            "teams": f"{self.base}/workflows/{self.token[:12]}/triggers/manual/paths/invoke?"
            f"{TEAMS_QUERY}{self.token}",
            "wecom": f"{self.base}/cgi-bin/webhook/send?key={self.token}",
            "feishu": f"{self.base}/open-apis/bot/v2/hook/{self.token}",
            "dingtalk": f"{self.base}/robot/send?access_token={self.token}",
        }[self.platform]

    def answer(self, answer: Answer, times: int = 1) -> Bot:
        """Answer the next `times` requests so."""
        self.script.extend([answer] * times)
        return self

    def rate_limit(self, retry_after: float = 2, times: int = 1) -> Bot:
        """HTTP 429 with Retry-After, in the platform's words."""
        body = {
            "slack": "rate_limited",
            "teams": {"error": {"code": "TooManyRequests", "message": "Rate limit is exceeded."}},
        }.get(self.platform, {"code": 429, "errcode": 429, "msg": "too many requests"})
        return self.answer(Answer(429, body, {"Retry-After": f"{retry_after:g}"}), times)

    def limited(self, times: int = 1) -> Bot:
        """The platform's rate-limit error code in a 200 (Slack and Teams only have 429)."""
        body = {
            "wecom": {"errcode": 45009, "errmsg": "api freq out of limit"},
            "dingtalk": {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"},
            "feishu": {"code": 11232, "data": {}, "msg": "frequency limited"},
        }.get(self.platform)
        if body is None:
            return self.rate_limit(1, times)
        return self.answer(Answer(200, body), times)

    def error_code(self, times: int = 1) -> Bot:
        """The platform's answer to a webhook that is wrong: a code in a 200 where it has one."""
        answer = {
            "slack": Answer(403, "invalid_token"),
            "teams": Answer(401, {"error": {"code": "DirectApiAuthorizationRequired"}}),
            "wecom": Answer(200, {"errcode": 93000, "errmsg": "invalid webhook url, hint: x"}),
            "feishu": Answer(200, {"code": 19024, "data": {}, "msg": "Key Words Not Found"}),
            "dingtalk": Answer(200, {"errcode": 310000, "errmsg": "keywords not in content"}),
        }[self.platform]
        return self.answer(answer, times)

    def storm(self, times: int = 10, status: int = 503) -> Bot:
        """A run of server errors."""
        return self.answer(Answer(status, {"error": "upstream unavailable"}), times)

    def slow(self, seconds: float, times: int = 1) -> Bot:
        """Answer normally, but only after `seconds`."""
        return self.answer(Answer(200, delay=seconds, normal=True), times)

    def texts(self) -> list[str]:
        """Every delivered body as JSON text (what a keyword check reads)."""
        return [json.dumps(r.body, ensure_ascii=False) for r in self.delivered]


class FakeWebhooks:
    """The server: `with FakeWebhooks() as hooks: bot = hooks.bot("wecom")`."""

    def __init__(self) -> None:
        self._bots: dict[tuple[str, str], Bot] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def bot(self, platform: str, *, secret: str | None = None, keyword: str | None = None) -> Bot:
        """A new webhook with a fresh token."""
        token = secrets.token_hex(16)
        bot = Bot(platform, token, self.base, secret=secret, keyword=keyword)
        with self._lock:
            self._bots[platform, token] = bot
        return bot

    def __enter__(self) -> FakeWebhooks:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = False
        self._server.block_on_close = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def find(self, platform: str, token: str) -> Bot | None:
        with self._lock:
            return self._bots.get((platform, token))

    def next_answer(self, bot: Bot) -> Answer | None:
        with self._lock:
            return bot.script.popleft() if bot.script else None


# --- routing and the platforms' rules ------------------------------------------------------


def _route(path: str, query: dict[str, str]) -> tuple[str, str] | None:
    """(platform, token) from a request's path and query."""
    parts = path.strip("/").split("/")
    if parts[:1] == ["services"] and len(parts) == 4:
        return "slack", parts[3]
    if parts[:1] == ["workflows"] and parts[2:] == ["triggers", "manual", "paths", "invoke"]:
        return "teams", query.get("sig", "")
    if path == "/cgi-bin/webhook/send":
        return "wecom", query.get("key", "")
    if parts[:4] == ["open-apis", "bot", "v2", "hook"] and len(parts) == 5:
        return "feishu", parts[4]
    if path == "/robot/send":
        return "dingtalk", query.get("access_token", "")
    return None


UNKNOWN = {
    "slack": (404, "no_service"),
    "teams": (401, {"error": {"code": "DirectApiAuthorizationRequired"}}),
    "wecom": (200, {"errcode": 93000, "errmsg": "invalid webhook url, hint: [1]"}),
    "feishu": (200, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}),
    "dingtalk": (200, {"errcode": 300005, "errmsg": "token is not exist"}),
}
SUCCESS = {
    "slack": (200, "ok"),
    "teams": (202, ""),
    "wecom": (200, {"errcode": 0, "errmsg": "ok"}),
    "feishu": (
        200,
        {"code": 0, "data": {}, "msg": "success", "StatusCode": 0, "StatusMessage": "success"},
    ),
    "dingtalk": (200, {"errcode": 0, "errmsg": "ok"}),
}


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _slack(bot: Bot, request: Request) -> tuple[int, Any] | None:
    body = request.body
    if not isinstance(body, dict) or not isinstance(body.get("text"), str):
        return 400, "invalid_payload"
    blocks = body.get("blocks", [])
    texts = [b.get("text", {}).get("text", "") for b in blocks]
    if len(blocks) > 50 or any(_utf16(t) > 3000 or not t for t in texts):
        return 400, "invalid_blocks"
    return None


def _teams(bot: Bot, request: Request) -> tuple[int, Any] | None:
    if len(request.raw) > 28 * 1024:
        return 413, {"error": {"code": "RequestEntityTooLarge"}}
    body = request.body
    try:
        attachment = body["attachments"][0]
        valid = body["type"] == "message" and attachment["contentType"] == CARD
        valid = valid and attachment["content"]["type"] == "AdaptiveCard"
    except (KeyError, IndexError, TypeError):
        valid = False
    return None if valid else (400, {"error": {"code": "InvalidRequestContent"}})


def _wecom(bot: Bot, request: Request) -> tuple[int, Any] | None:
    body = request.body
    try:
        content = body["markdown"]["content"]
        valid = body["msgtype"] == "markdown" and isinstance(content, str) and content
    except (KeyError, TypeError):
        valid, content = False, ""
    if not valid:
        return 200, {"errcode": 40008, "errmsg": "invalid message type"}
    if len(content.encode("utf-8")) > 4096:
        return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
    return None


def feishu_sign(timestamp: str, secret: str) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def dingtalk_sign(timestamp: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _fresh(timestamp: str, scale: float) -> bool:
    try:
        return abs(time.time() - int(timestamp) / scale) < 3600
    except ValueError:
        return False


def _feishu(bot: Bot, request: Request) -> tuple[int, Any] | None:
    body = request.body if isinstance(request.body, dict) else {}
    if bot.secret is not None:
        stamp = str(body.get("timestamp", ""))
        if not _fresh(stamp, 1) or body.get("sign") != feishu_sign(stamp, bot.secret):
            return 200, {
                "code": 19021,
                "msg": "sign match fail or timestamp is not within one hour from current time",
            }
    if body.get("msg_type") != "interactive" or not isinstance(body.get("card"), dict):
        return 200, {"code": 9499, "msg": "Bad Request"}
    if bot.keyword and bot.keyword not in json.dumps(body["card"], ensure_ascii=False):
        return 200, {"code": 19024, "msg": "Key Words Not Found"}
    if len(request.raw) > 20 * 1024:
        return 200, {"code": 9499, "msg": "Bad Request"}
    return None


def _dingtalk(bot: Bot, request: Request) -> tuple[int, Any] | None:
    if bot.secret is not None:
        stamp = request.query.get("timestamp", "")
        sign = request.query.get("sign", "")
        if not _fresh(stamp, 1000) or sign != dingtalk_sign(stamp, bot.secret):
            return 200, {"errcode": 310000, "errmsg": "sign not match, more: [https://x.example]"}
    body = request.body if isinstance(request.body, dict) else {}
    markdown = body.get("markdown") if body.get("msgtype") == "markdown" else None
    if not isinstance(markdown, dict) or not markdown.get("title") or not markdown.get("text"):
        return 200, {"errcode": 400105, "errmsg": "不支持的消息类型"}
    if bot.keyword and bot.keyword not in markdown["title"] + markdown["text"]:
        return 200, {"errcode": 310000, "errmsg": "keywords not in content, more: [x]"}
    if len(request.raw) > 20_000:
        return 200, {"errcode": 460101, "errmsg": "message too long, exceed 20000 bytes"}
    return None


RULES = {
    "slack": _slack,
    "teams": _teams,
    "wecom": _wecom,
    "feishu": _feishu,
    "dingtalk": _dingtalk,
}


def _handler(hooks: FakeWebhooks) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to one server."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 5
        wbufsize = -1  # headers and body in one write: no delayed-ACK stall per request

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            route = _route(parts.path, query)
            if route is None:
                self._send(404, "not found")
                return
            bot = hooks.find(*route)
            if bot is None:
                self._send(*UNKNOWN[route[0]])
                return
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            request = Request(parts.path, query, body, raw)
            bot.received.append(request)
            self._send(*self._decide(bot, request, hooks.next_answer(bot)))

        def _decide(
            self, bot: Bot, request: Request, scripted: Answer | None
        ) -> tuple[int, Any, dict[str, str]]:
            if scripted is not None:
                time.sleep(scripted.delay)
                if not scripted.normal:
                    return scripted.status, scripted.body, scripted.headers
            refused = RULES[bot.platform](bot, request)
            if refused is not None:
                return (*refused, {})
            bot.delivered.append(request)
            return (*SUCCESS[bot.platform], {})

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            if isinstance(body, str):
                data, kind = body.encode(), "text/html"
            else:
                data, kind = json.dumps(body, ensure_ascii=False).encode(), "application/json"
            try:
                self.send_response(status)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read what the bots received, not access logs."""

    return Handler
