"""What each chat platform's answer to a post means: one table, one reader.

HTTP first, the same everywhere: 408, 429 and 5xx try again (429/503 waiting as `Retry-After`
says). Then the platform's own words — a code in a 200 (WeCom, DingTalk, Feishu), a word in the
body (Slack), an error object (Teams) — classified once here:

- success: the only answer that means the post was taken;
- `waits`: rate limits, tried again after the platform's window;
- `busy`: "try later", tried again with back-off;
- anything else is final: a wrong key, a wrong config, a refused message. The ledger keeps it
  `failed` with `retryable: false` until the channel's config changes.

Sources: Slack's webhook errors (api.slack.com/changelog/2016-05-17-changes-to-errors-for-
incoming-webhooks) and rate limits (api.slack.com/docs/rate-limits); WeCom's group bot
(developer.work.weixin.qq.com/document/path/91770) and global codes (…/path/90455: -1 busy);
Feishu's custom bot guide (open.larkoffice.com, 11232 frequency limited, 9499/19021/19022/19024
final); DingTalk's custom robot (20 a minute, a ten-minute block after: 130101; 310000 and
300001/300005 final); Teams Workflows answer 202 and put errors in `{"error": {"code": …}}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from connectors.http import Try, again, status_try, succeeded
from stagecast.reports.escape import one_line

_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-")


@dataclass(frozen=True)
class Answers:
    """How one platform answers a post.

    `code` names the body field(s) with the platform's code (first present wins) and `message`
    its text; `ok` is the code (or Slack's body word) of success; `waits` maps a code to the
    seconds to wait before trying again; `busy` codes back off; `notes` add a word to a reason.
    `any_2xx` (Teams) takes any 2xx as success and reads `error.code` otherwise.
    """

    name: str
    code: tuple[str, ...] = ()
    message: tuple[str, ...] = ()
    ok: int | str = 0
    waits: Mapping[int | str, float | None] = field(default_factory=dict)
    busy: frozenset[int | str] = frozenset()
    notes: Mapping[int | str, str] = field(default_factory=dict)
    any_2xx: bool = False
    body_word: bool = False


ANSWERS: dict[str, Answers] = {
    "slack": Answers("Slack", ok="ok", body_word=True, waits={"rate_limited": None}),
    "teams": Answers("Teams", any_2xx=True),
    "wecom": Answers(
        "WeCom", code=("errcode",), message=("errmsg",), waits={45009: 60.0}, busy=frozenset({-1})
    ),
    "feishu": Answers(
        "Feishu",
        code=("code", "StatusCode"),
        message=("msg", "StatusMessage"),
        waits={11232: 1.0},
    ),
    "dingtalk": Answers(
        "DingTalk",
        code=("errcode",),
        message=("errmsg",),
        waits={130101: 600.0, 410100: 600.0},
        busy=frozenset({-1}),
        notes={130101: "throttled for ten minutes", 410100: "throttled for ten minutes"},
    ),
}


def judge(platform: str, response: httpx.Response) -> Try[Any]:
    """What the platform's answer means for this post."""
    answers = ANSWERS[platform]
    if retry := status_try(response.status_code, response.headers):
        return retry
    if answers.any_2xx:
        return succeeded(None) if response.is_success else _teams_error(response)
    if answers.body_word:
        return _by_word(answers, response)
    return _by_code(answers, response)


def _by_code(answers: Answers, response: httpx.Response) -> Try[Any]:
    body = json_body(response) or {}
    code = next((body[f] for f in answers.code if f in body), None)
    if not isinstance(code, int):
        return Try(
            reason=f"HTTP {response.status_code}, not a {answers.name} answer", retryable=True
        )
    if code == answers.ok and response.is_success:
        return succeeded(None)
    said = next((body[f] for f in answers.message if f in body), "")
    label = "errcode" if answers.code[0] == "errcode" else "code"
    return _classify(answers, code, f"{label} {code} {short(said)}".strip())


def _by_word(answers: Answers, response: httpx.Response) -> Try[Any]:
    text = response.text.strip()
    if response.is_success and text == answers.ok:
        return succeeded(None)
    said = word(text)
    if said in answers.waits:
        return _classify(answers, said, said)
    return Try(reason=f"HTTP {response.status_code}" + (f" {said}" if said else ""))


def _classify(answers: Answers, code: int | str, reason: str) -> Try[Any]:
    if code in answers.notes:
        reason = f"{reason} ({answers.notes[code]})"
    if code in answers.waits:
        return again(reason, answers.waits[code])
    if code in answers.busy:
        return again(reason)
    return Try(reason=reason)


def _teams_error(response: httpx.Response) -> Try[Any]:
    error = (json_body(response) or {}).get("error")
    code = word(error.get("code", "")) if isinstance(error, dict) else ""
    return Try(reason=f"HTTP {response.status_code}" + (f" {code}" if code else ""))


def word(value: object) -> str:
    """A platform's error code or short message, kept only when it is a plain token."""
    text = str(value).strip()
    return text if 0 < len(text) <= 64 and set(text) <= _WORD_CHARS else ""


def short(value: object, limit: int = 160) -> str:
    """A platform's error message on one line, bounded."""
    text = one_line(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_body(response: httpx.Response) -> dict[str, Any] | None:
    """The answer as a JSON object, or None when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
