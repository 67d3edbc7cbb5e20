"""What the chat webhook channels share (SPEC §8, §11).

- Our chat markdown into each platform's dialect (`Dialect`, `convert`): template markup (headings,
  `**bold**`, `[links](…)`, `- ` lists) becomes the platform's; source text, which the renderer
  escaped with backslashes and entities, stays inert text — no ping, no link, no heading.
- Long reports cut at section boundaries into numbered posts that fit the platform
  (`split_parts`); `WebhookChannel.build_payload` is pure.
- Posting: paced per webhook (module-level pacers keyed by a hash of the URL), 429/5xx/timeouts
  retried with Retry-After or backoff, a platform error code in a 200 is a failure.
- Secrets: webhook URLs (their keys and tokens) and signing secrets appear only redacted
  (`redact`), in errors, receipts and logs — httpx's own request log included.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import httpx

from connectors.channels.answers import judge, word
from connectors.channels.base import NO_PART_LOG, DeliveryError, PartLog, Receipt
from connectors.http import NEVER_LEFT, Pacer, RetryPolicy, Sleep, Try, again, retrying
from connectors.secrets import reveal
from stagecast.config import ConfigError, SecretRef
from stagecast.models import Message
from stagecast.reports.escape import md_escape, one_line, safe_url
from stagecast.reports.parts import pack_sections
from stagecast.reports.render import split_sections

__all__ = [
    "CHAT_POLICY",
    "MENTION_KINDS",
    "OK",
    "ZWSP",
    "Dialect",
    "Pacer",
    "PartialDeliveryError",
    "Verdict",
    "WebhookChannel",
    "convert",
    "convert_inline",
    "drop_heading",
    "encode",
    "guarded_text",
    "maybe",
    "no_autolink",
    "pacer_for",
    "redact",
    "refuse",
    "scrub",
    "split_parts",
    "word",
]

log = logging.getLogger(__name__)

ZWSP = "\u200b"
MENTION_KINDS = frozenset({"stage_report", "risk_alert"})
# Chat posts are small and a report can wait for the ledger's next round: fewer, shorter tries
# than a source sync.
# `timeout` bounds connecting and writing; reading the answer has the platform's own bound.
CHAT_POLICY = RetryPolicy(tries=4, base_delay=1.0, max_delay=30.0, timeout=10.0)
JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
# Measuring a post assumes the longest numbering tag, so every real part fits too.
WORST_TAG = "(999/999)"


# --- markdown dialects ---------------------------------------------------------------------


def _bold(inner: str) -> str:
    return f"**{inner}**"


def _bold_heading(level: int, inner: str) -> str:
    return f"**{inner}**"


def _markdown_link(text: str, url: str) -> str:
    return f"[{text}]({url})"


@dataclass(frozen=True)
class Dialect:
    """How one platform writes what our chat markdown says.

    `text` receives literal text (source text with its escapes undone) and must make it inert on
    the platform; the other functions receive already-converted pieces.
    """

    text: Callable[[str], str]
    bold: Callable[[str], str] = _bold
    heading: Callable[[int, str], str] = _bold_heading
    link: Callable[[str, str], str] = _markdown_link
    bullet: str = "- "
    guard_line_start: bool = False


def no_autolink(text: str) -> str:
    """`http://x` in source text stays text: a zero-width space after the colon, which clients
    do not linkify."""
    return text.replace("://", ":" + ZWSP + "//")


_DEFUSE = re.compile(r"([<\[\]*_~`])")


def guarded_text(text: str) -> str:
    """For markdown whose escaping is undocumented (WeCom, DingTalk): a zero-width space after
    each character that could open a tag, link, emphasis or code, so none can form."""
    return _DEFUSE.sub("\\1" + ZWSP, no_autolink(text))


_INLINE = re.compile(
    r"\\(?P<esc>[!-/:-@\[-`{-~])"
    r"|&(?P<ent>amp|lt|gt|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});"
    r"|\[(?P<label>(?:\\.|[^\\\]])*)\]\((?P<url>[^()\s]*)\)"
    r"|(?P<strong>\*\*)"
)
_LITERAL = re.compile(
    r"\\(?P<esc>[!-/:-@\[-`{-~])|&(?:amp|lt|gt|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});"
)
_HEADING = re.compile(r"(#{1,6}) (.*)")
_BULLET = re.compile(r"- (.*)")


def convert(markdown: str, dialect: Dialect) -> str:
    """Our chat markdown in the platform's words, line by line (our markup never spans lines)."""
    return "\n".join(_convert_line(line, dialect) for line in markdown.split("\n"))


@lru_cache(maxsize=16384)
def _convert_line(line: str, dialect: Dialect) -> str:
    """One line; cached, because packing measures the same lines again and again."""
    if heading := _HEADING.fullmatch(line):
        return dialect.heading(len(heading[1]), convert_inline(heading[2], dialect))
    if bullet := _BULLET.fullmatch(line):
        return dialect.bullet + _guarded(bullet[1], dialect)
    return _guarded(line, dialect)


def _guarded(text: str, dialect: Dialect) -> str:
    """Source text that starts a line cannot start a heading, list or quote there either."""
    converted = convert_inline(text, dialect)
    return ZWSP + converted if dialect.guard_line_start and text.startswith("\\") else converted


def convert_inline(text: str, dialect: Dialect) -> str:
    """Escapes and entities become literal text for `dialect.text`; `**…**` and links become
    the dialect's (an unclosed `**` is two asterisks)."""
    out: list[str] = []
    outer: list[list[str]] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            out.append(dialect.text("".join(literal)))
            literal.clear()

    position = 0
    for match in _INLINE.finditer(text):
        literal.append(text[position : match.start()])
        position = match.end()
        if match["esc"] is not None:
            literal.append(match["esc"])
        elif match["ent"] is not None:
            literal.append(html.unescape(match[0]))
        elif match["url"] is not None:
            flush()
            out.append(_link(match["label"], match["url"], dialect))
        else:
            flush()
            if outer:
                inner, out = "".join(out), outer.pop()
                out.append(dialect.bold(inner))
            else:
                outer.append(out)
                out = []
    literal.append(text[position:])
    flush()
    while outer:
        inner, out = "".join(out), outer.pop()
        out.append(dialect.text("**") + inner)
    return "".join(out)


def _link(label: str, url: str, dialect: Dialect) -> str:
    """A template's link; a target that is not http(s) leaves only its text."""
    text = dialect.text(_LITERAL.sub(lambda m: m["esc"] or html.unescape(m[0]), label))
    target = safe_url(url)
    return dialect.link(text, target) if target else text


def drop_heading(markdown: str) -> str:
    """The markdown without its first line when that is a heading (shown elsewhere, say)."""
    first, _, rest = markdown.partition("\n")
    return rest.lstrip("\n") if _HEADING.fullmatch(first) else markdown


# --- parts ---------------------------------------------------------------------------------


def split_parts(message: Message, size: Callable[[str], int], limit: int) -> list[str]:
    """The message's markdown in as few parts as fit (`size(part) <= limit`), cut at section
    boundaries and numbered "(i/n)" in each part's first heading when there is more than one."""
    sections = list(message.sections) or list(split_sections(message.markdown))
    whole = "\n\n".join(sections)
    if size(whole) <= limit:
        return [whole]
    packed = pack_sections(sections, limit, size=lambda text: size(_number(text, message, 0, 0)))
    total = len(packed)
    return [_number(part, message, index, total) for index, part in enumerate(packed, 1)]


def _number(part: str, message: Message, index: int, total: int) -> str:
    """Part 1 keeps its own `# ` heading with the tag added; the others get the title's.
    Index 0 measures the worst case (a whole title heading with the longest tag)."""
    tag = f"({index}/{total})" if index else WORST_TAG
    first, newline, rest = part.partition("\n")
    if index == 1 and first.startswith("# "):
        return f"{first} {tag}{newline}{rest}"
    return f"# {md_escape(message.title)} {tag}\n\n{part}"


# --- answers ---------------------------------------------------------------------------

# What one post's try came to (`connectors.http.Try`): delivered (`done`), worth another try now
# (`again`), may have been taken (`maybe`), or a failure `retryable` says a later round may get
# past. The platforms' words are read in one table, `connectors.channels.answers`.
Verdict = Try[Any]
OK: Verdict = Try(done=True)


def refuse(reason: str, *, retryable: bool = False) -> Verdict:
    """Stop trying this round."""
    return Try(reason=reason, retryable=retryable)


def maybe(reason: str) -> Verdict:
    """The post may have been taken: never retried automatically, the ledger says `unknown`."""
    return Try(maybe=True, reason=reason)


class PartialDeliveryError(DeliveryError):
    """A later part failed after earlier ones were delivered: a retry resumes from it."""

    def __init__(self, message: str, *, retryable: bool, part: int, parts: int) -> None:
        super().__init__(message, retryable=retryable)
        self.part, self.parts = part, parts

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with the keywords: Prefect moves exceptions between processes."""
        return (_partial, (str(self), self.retryable, self.part, self.parts))


def _partial(message: str, retryable: bool, part: int, parts: int) -> PartialDeliveryError:
    return PartialDeliveryError(message, retryable=retryable, part=part, parts=parts)


# --- pacing --------------------------------------------------------------------------------


_PACERS: dict[str, Pacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(url: str, calls: int, period: float) -> Pacer:
    """The process-wide pacer of one webhook, keyed by a hash so the URL is not kept."""
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    with _PACERS_LOCK:
        if key not in _PACERS:
            _PACERS[key] = Pacer(calls, period, clock=time.monotonic)
        return _PACERS[key]


# --- secrets -------------------------------------------------------------------------------

_QUERY_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,19}")


def redact(url: str, public_path: str = "") -> str:
    """`https://qyapi.weixin.qq.com/…?key=****`: scheme, host and parameter names only; a known
    public path prefix (Slack's `/services/`) is kept before `****`."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "****"
    if not parts.scheme or not host:
        return "****"
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    if public_path and parts.path.startswith(public_path) and parts.path != public_path:
        path = public_path + "****"
    else:
        path = "/…" if parts.path.strip("/") else ""
    names = [k if _QUERY_KEY.fullmatch(k) and v else "" for k, v in _pairs(parts.query)]
    query = "&".join(f"{name}=****" if name else "****" for name in dict.fromkeys(names))
    return origin + path + (f"?{query}" if query else "")


def _pairs(query: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(query, keep_blank_values=True)
    except ValueError:
        return [("", query)]


def secrets_of(url: str, public_path: str = "") -> set[str]:
    """What of a webhook URL must never be shown: the URL, its query values (raw and decoded),
    and its path past the public prefix. Short values (`api-version=1`) are not secrets."""
    found = {url}
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    for pair in parts.query.split("&"):
        _, _, value = pair.partition("=")
        found |= {value, unquote_plus(value)}
    if public_path and parts.path.startswith(public_path):
        found.add(parts.path[len(public_path) :])
    else:
        found.add(parts.path)
    return {s for s in found if len(s) >= 8}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Every secret in `text` replaced by `****`, longest first."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "****")
    return text


_HIDDEN: tuple[str, ...] = ()
_HIDDEN_LOCK = threading.Lock()


def _hide(secrets: Iterable[str]) -> None:
    """Remember secrets for the log filter (a new tuple, so readers never see it change)."""
    global _HIDDEN
    with _HIDDEN_LOCK:
        _HIDDEN = tuple(set(_HIDDEN) | set(secrets))


class _HideWebhooks(logging.Filter):
    """httpx logs every request's full URL at INFO: webhook keys are taken out first (and out
    of our own lines, which quote what platforms answered)."""

    def filter(self, record: logging.LogRecord) -> bool:
        hidden = _HIDDEN
        if hidden:
            text = record.getMessage()
            clean = scrub(text, hidden)
            if clean != text:
                record.msg, record.args = clean, ()
        return True


logging.getLogger("httpx").addFilter(_HideWebhooks())
log.addFilter(_HideWebhooks())  # our retry warnings quote platform messages


def encode(body: dict[str, Any]) -> bytes:
    """The bytes we post: compact UTF-8 JSON, so sizes are measured as the platform counts."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- the channel ---------------------------------------------------------------------------


class WebhookChannel:
    """A chat bot behind a webhook. Subclasses say how a post looks (`compose`, `size`,
    `limit`), what an answer means (`judge`), how it is signed (`sign`) and how fast it may go
    (`rate`); this class splits, paces, retries, redacts and reports."""

    platform: ClassVar[str]
    rate: ClassVar[tuple[int, float]]
    limit: ClassVar[int]
    public_path: ClassVar[str] = ""
    # How long the platform may take to answer a post it has received (see the README's
    # delivery section): past this the post counts as "may have been delivered".
    read_timeout: ClassVar[float] = 30.0

    def __init__(
        self,
        name: str,
        webhook: SecretRef,
        *,
        keyword: str | None = None,
        mention: Sequence[str] = (),
        secret: SecretRef | None = None,
        proxy: str | None = None,
        client: httpx.Client | None = None,
        policy: RetryPolicy = CHAT_POLICY,
        sleep: Sleep = time.sleep,
        pacer: Pacer | None = None,
        clock: Callable[[], float] = time.time,
        read_timeout: float | None = None,
    ) -> None:
        self.name, self.webhook, self.secret = name, webhook, secret
        if read_timeout is not None:
            self.read_timeout = read_timeout
        self.keyword = one_line(keyword) if keyword else None
        self.mention = tuple(one_line(m) for m in mention if one_line(m))
        self.proxy, self.client, self.policy = proxy, client, policy
        self.sleep, self.pacer, self.clock = sleep, pacer, clock

    @classmethod
    def from_config(cls, cfg: Any, **overrides: Any) -> Self:
        """The channel of a config entry; `overrides` inject a client, pacer or sleep."""
        return cls(
            cfg.name,
            cfg.webhook,
            keyword=cfg.keyword,
            mention=cfg.mention,
            secret=getattr(cfg, "secret", None),
            proxy=cfg.proxy,
            **overrides,
        )

    # -- what a post looks like (pure) --

    def compose(self, part: str, message: Message, *, tag: str, mentions: bool) -> dict[str, Any]:
        """One post of `part` (markdown), numbered by `tag` ("" or "(2/3)")."""
        raise NotImplementedError

    def size(self, body: dict[str, Any]) -> int:
        """A post's size in the unit `limit` is in: bytes of the JSON unless said otherwise."""
        return len(encode(body))

    def build_payload(self, message: Message) -> list[dict[str, Any]]:
        """The JSON bodies to post, in order: one per part. Pure; signing happens in `send`."""
        parts = split_parts(message, lambda md: self._measure(md, message), self.limit)
        total = len(parts)
        bodies = []
        for index, part in enumerate(parts, 1):
            tag = f"({index}/{total})" if total > 1 else ""
            mentions = index == 1 and message.kind in MENTION_KINDS and bool(self.mention)
            body = self.compose(part, message, tag=tag, mentions=mentions)
            if self.size(body) > self.limit:
                raise DeliveryError(
                    f"{self.platform} channel '{self.name}': a part of the {message.kind} does"
                    f" not fit one post ({self.size(body)} > {self.limit})",
                    retryable=False,
                )
            bodies.append(body)
        return bodies

    def _measure(self, markdown: str, message: Message) -> int:
        return self.size(self.compose(markdown, message, tag=WORST_TAG, mentions=True))

    def title(self, message: Message, tag: str) -> str:
        """The message's title, numbered when it is one of several parts."""
        return f"{message.title} {tag}" if tag else message.title

    def mentioned(self, mentions: bool) -> tuple[str, ...]:
        """Who this post @-mentions: the configured names, on the first post of an alert or
        stage report only."""
        return self.mention if mentions else ()

    # -- what an answer means --

    def judge(self, response: httpx.Response) -> Verdict:
        """Read the platform's answer (`connectors.channels.answers`)."""
        return judge(self.platform, response)

    def sign(
        self, body: dict[str, Any], secret: str
    ) -> tuple[dict[str, Any], dict[str, str] | None]:
        """The body and query parameters of a signed post (fresh for each try)."""
        return body, None

    # -- sending --

    def send(self, message: Message, parts: PartLog = NO_PART_LOG) -> Receipt:
        """Post the parts in order from `parts.first`; the first that fails stops the rest and
        is named. Each request is recorded in `parts` before it leaves and after its answer."""
        url = self._webhook_url()
        secret = self._reveal(self.secret, "secret") if self.secret is not None else None
        hidden = secrets_of(url, self.public_path) | ({secret} if secret else set())
        _hide(hidden)
        target = redact(url, self.public_path)
        payloads = self.build_payload(message)
        pacer = self.pacer or pacer_for(url, *self.rate)
        with self._client() as client:
            for index, body in enumerate(payloads, 1):
                if index < parts.first:
                    continue
                verdict = self._post(client, url, body, secret, pacer, target, index, parts)
                if not verdict.done:
                    reason = scrub(verdict.reason, hidden)
                    raise self._failure(
                        replace(verdict, reason=reason), index, len(payloads), target
                    )
                log.info("%s %s: part %d/%d delivered", self.platform, target, index, len(payloads))
        return Receipt(self.name, target, len(payloads))

    def _post(
        self,
        client: httpx.Client,
        url: str,
        body: dict[str, Any],
        secret: str | None,
        pacer: Pacer,
        target: str,
        index: int,
        parts: PartLog,
    ) -> Verdict:
        """One part through the one retry engine, tried while each answer says "not taken";
        a request that may have arrived (no answer after the body left) is never sent again.
        Each request is recorded in `parts` before it leaves and after its answer."""

        def attempt() -> Verdict:
            pacer.wait()
            parts.leaving(index)
            verdict = self._try(client, url, body, secret)
            if verdict.done:
                parts.delivered(index)
            elif not verdict.maybe:
                parts.unsent()
            return verdict

        def warn(reason: str, wait: float) -> None:
            log.warning("%s %s: %s; trying again in %.1fs", self.platform, target, reason, wait)

        result = retrying(self.policy, attempt, sleep=self.sleep, warn=warn)
        return replace(result, retryable=True) if result.again else result

    def _try(
        self, client: httpx.Client, url: str, body: dict[str, Any], secret: str | None
    ) -> Verdict:
        """One request; transport trouble is a verdict too, described without the URL. Trouble
        before the body could arrive (no connection) may be retried; after it (no answer in
        time, the link dropped) the post may have been taken: `maybe`."""
        signed, params = self.sign(body, secret) if secret else (body, None)
        try:
            # httpx's `params=` would replace the webhook's own query (its key): merge instead.
            target = httpx.URL(url).copy_merge_params(params) if params else url
            response = client.post(
                target, content=encode(signed), headers=JSON_HEADERS, timeout=self._timeout()
            )
        except NEVER_LEFT as err:
            return again(f"no connection ({type(err).__name__})")
        except httpx.UnsupportedProtocol:
            return refuse("the webhook is not an http(s) URL")
        except httpx.InvalidURL:
            return refuse("the webhook is not a valid URL")
        except httpx.TimeoutException:
            return maybe(f"no answer within {self.read_timeout:.0f}s")
        except httpx.TransportError as err:
            return maybe(f"the connection dropped before an answer ({type(err).__name__})")
        return self.judge(response)

    def _timeout(self) -> httpx.Timeout:
        """Short to connect; the platform's own time to answer (`read_timeout`) to read."""
        return httpx.Timeout(self.policy.timeout, read=self.read_timeout)

    def _failure(self, verdict: Verdict, index: int, total: int, target: str) -> DeliveryError:
        """The error for a part that could not be delivered, saying which part."""
        where = f"{self.platform} {target}"
        if verdict.maybe:
            which = "the report" if total == 1 else f"part {index}/{total}"
            return DeliveryError(
                f"{where}: {which} may have been delivered ({verdict.reason}); not sent again"
                " automatically",
                retryable=False,
                maybe_delivered=True,
            )
        if total == 1:
            return DeliveryError(f"{where}: {verdict.reason}", retryable=verdict.retryable)
        if index == 1:
            return DeliveryError(
                f"{where}: part 1/{total} not delivered ({verdict.reason}); nothing was sent",
                retryable=verdict.retryable,
            )
        sent = "part 1 was" if index == 2 else f"parts 1-{index - 1} were"
        return PartialDeliveryError(
            f"{where}: part {index}/{total} not delivered ({verdict.reason}); {sent} delivered"
            f" and a retry starts from part {index}",
            retryable=verdict.retryable,
            part=index,
            parts=total,
        )

    @contextmanager
    def _client(self) -> Iterator[httpx.Client]:
        """The injected client, or one of our own for this send (closed after it)."""
        if self.client is not None:
            yield self.client
            return
        with httpx.Client(timeout=self.policy.timeout, proxy=self.proxy) as client:
            yield client

    def _webhook_url(self) -> str:
        """The webhook's URL, which must be http(s) with a host."""
        url = self._reveal(self.webhook, "webhook").strip()
        try:
            parts = urlsplit(url)
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            valid = False
        if not valid:
            raise DeliveryError(
                f"channel '{self.name}': the webhook in {self.webhook} is not an http(s) URL",
                retryable=False,
            )
        return url

    def _reveal(self, ref: SecretRef | None, what: str) -> str:
        """A secret's value; an unresolvable reference fails naming the reference only."""
        try:
            value = reveal(ref)
        except ConfigError as err:
            problems = "; ".join(err.problems)
            raise DeliveryError(
                f"channel '{self.name}': cannot read the {what} ({problems})", retryable=False
            ) from None
        except Exception as err:  # a Prefect Secret block behind an unreachable API, say
            raise DeliveryError(
                f"channel '{self.name}': cannot read the {what} {ref} ({type(err).__name__})",
                retryable=True,
            ) from None
        if not value:
            raise DeliveryError(
                f"channel '{self.name}': the {what} {ref} is empty", retryable=False
            )
        return value
