"""Being gentle with vendors: requests in flight per host, one retry engine, one pacer.

Every source and channel talks to its vendor through these pieces, so the rules hold
everywhere:
- at most `max_concurrency` requests in flight to one host, across every project and source
  in this process (`HOST_LIMITS`);
- one policy (`RetryPolicy`) and one engine (`retrying`): 408, 429 and 5xx try again, 429 and
  503 waiting as the server says (`Retry-After`, seconds or an HTTP date), the rest backing off
  exponentially with full jitter; after a bounded number of tries the caller gets the last
  try, which a source turns into "unavailable for this run" and a channel into a retryable
  failure. A request that may have arrived is never retried unless it is idempotent;
- every request has a timeout;
- one pacer (`Pacer`) keeps a token or a webhook under its vendor's documented rate;
- where httpx is the client, all of it sits in its transport (`PoliteTransport`).
"""

from __future__ import annotations

import email.utils
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import httpx

Sleep = Callable[[float], None]
T = TypeVar("T")


class Unavailable(Exception):
    """Tries are used up (or the failure is not worth retrying): the vendor cannot answer now."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HostLimits:
    """One semaphore per host, sized by the first `max_concurrency` configured for it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    def _semaphore(self, host: str, limit: int) -> threading.BoundedSemaphore:
        with self._lock:
            if host not in self._slots:
                self._slots[host] = threading.BoundedSemaphore(max(1, limit))
            return self._slots[host]

    @contextmanager
    def slot(self, url: str, limit: int) -> Iterator[None]:
        """Hold one of the host's slots for the duration of a request."""
        semaphore = self._semaphore(host_of(url), limit)
        with semaphore:
            yield


HOST_LIMITS = HostLimits()


def host_of(url: str) -> str:
    """`acme.atlassian.net:443`-style key: the limit belongs to the host, not the project."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before a source gives up for this run."""

    tries: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    timeout: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Full jitter: a random wait up to base × 2^attempt, capped."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait, from `Retry-After` (seconds or an HTTP date)."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.replace(".", "", 1).isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


Clock = Callable[[], float]


class Pacer:
    """At most `calls` starts per `period` seconds (a sliding window), shared by threads: the
    one pacer of every vendor's documented rate (Trello's per token and key, a chat webhook's
    posts). The clock is injectable so tests need not wait."""

    def __init__(
        self, calls: int, period: float, *, clock: Clock = time.monotonic, sleep: Sleep = time.sleep
    ) -> None:
        self.calls, self.period = calls, period
        self._clock, self._sleep = clock, sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until one more call fits in the window, then count it."""
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.period:
                    self._starts.popleft()
                if len(self._starts) < self.calls:
                    self._starts.append(now)
                    return
                delay = self.period - (now - self._starts[0])
            self._sleep(max(delay, 0.001))


# --- the one retry engine ------------------------------------------------------------------


@dataclass(frozen=True)
class Try(Generic[T]):
    """What one attempt came to: a `value` (done), worth another try now (`again`, after
    `wait` seconds when the other side said so), or a final answer that trying will not fix.
    `maybe` marks a request that left without an answer: never tried again automatically."""

    value: T | None = None
    done: bool = False
    again: bool = False
    wait: float | None = None
    reason: str = ""
    maybe: bool = False
    retryable: bool = False  # final for this run, but a later run may get past it


def succeeded(value: T) -> Try[T]:
    return Try(value=value, done=True)


def again(reason: str, wait: float | None = None) -> Try[Any]:
    """Worth another try now: after `wait` seconds (None: back off with jitter)."""
    return Try(again=True, wait=wait, reason=reason)


def final(reason: str, value: Any = None) -> Try[Any]:
    """Stop trying: `value` (an answer to hand back) or nothing."""
    return Try(value=value, reason=reason)


def retrying(
    policy: RetryPolicy,
    attempt: Callable[[], Try[T]],
    *,
    sleep: Sleep = time.sleep,
    warn: Callable[[str, float], None] | None = None,
) -> Try[T]:
    """Call `attempt` until it is done or final, or `policy.tries` are used up.

    Between tries: the wait the other side asked for (Retry-After; longer than
    `max_retry_after` stops at once), else full-jitter back-off. The result is the last try;
    `again` still set means the tries ran out on something a later run may get past.
    """
    last: Try[T] = again("no answer")
    for index in range(policy.tries):
        last = attempt()
        if not last.again:
            return last
        wait = last.wait if last.wait is not None else policy.backoff(index)
        if wait > policy.max_retry_after:
            return replace(last, reason=f"{last.reason}, asked to wait {wait:.0f}s")
        if index + 1 < policy.tries:
            if warn is not None:
                warn(last.reason, wait)
            sleep(wait)
    return replace(last, reason=f"{last.reason} after {policy.tries} tries")


# What every vendor means by these: try again (Retry-After where 429/503 carry it).
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def status_try(status: int, headers: Mapping[str, str]) -> Try[Any] | None:
    """`again` for a status worth retrying (waiting as told on 429/503), else None."""
    if status not in RETRY_STATUSES and status < 500:
        return None
    asked = retry_after(headers) if status in (429, 503) else None
    return again(f"HTTP {status}", asked)


# Transport errors raised before a request's body can have reached the server.
NEVER_LEFT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.ProxyError)


class PoliteTransport(httpx.BaseTransport):
    """An httpx transport that keeps the rules for every request of its client: a slot of the
    host's limit, the pacers, the one retry engine. A request that may have reached the server
    (no answer in time) is retried only when its method is idempotent (GET, HEAD…).

    `describe` names the vendor in errors ("Trello api.trello.com"); URLs with credentials in
    their query are never put into messages.
    """

    def __init__(
        self,
        describe: str,
        *,
        max_concurrency: int = 8,
        policy: RetryPolicy | None = None,
        pacers: tuple[Pacer, ...] = (),
        sleep: Sleep = time.sleep,
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        self.describe, self.max_concurrency = describe, max_concurrency
        self.policy = policy or RetryPolicy()
        self.pacers, self.sleep = pacers, sleep
        self.inner = inner or httpx.HTTPTransport()
        self.requests_made = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send with retries; the first answer not worth retrying is returned as it is."""
        result = retrying(self.policy, lambda: self._once(request), sleep=self.sleep)
        if isinstance(result.value, httpx.Response):
            return result.value
        raise Unavailable(f"{self.describe}: {result.reason}", status=status_of(result.reason))

    def _once(self, request: httpx.Request) -> Try[httpx.Response]:
        for pacer in self.pacers:
            pacer.wait()
        idempotent = request.method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE")
        try:
            with HOST_LIMITS.slot(str(request.url), self.max_concurrency):
                self.requests_made += 1
                response = self.inner.handle_request(request)
                response.read()
        except NEVER_LEFT as err:
            return again(f"connection failed ({type(err).__name__})")
        except httpx.TimeoutException:
            return again("timed out") if idempotent else final("timed out", None)
        except httpx.TransportError as err:
            problem = f"connection failed ({type(err).__name__})"
            return again(problem) if idempotent else final(problem)
        retry = status_try(response.status_code, response.headers)
        if retry is None:
            return succeeded(response)
        response.close()
        return retry

    def close(self) -> None:
        self.inner.close()


def status_of(reason: str) -> int | None:
    """The HTTP status a give-up reason names ("HTTP 503 after 5 tries"), if any."""
    found = re.match(r"HTTP (\d{3})\b", reason)
    return int(found[1]) if found else None


@dataclass
class PoliteClient:
    """An `httpx.Client` whose transport is a `PoliteTransport`, with JSON conveniences."""

    client: httpx.Client
    transport: PoliteTransport

    @classmethod
    def open(
        cls,
        describe: str,
        *,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        **rules: Any,
    ) -> PoliteClient:
        """A client for one vendor: `rules` are `PoliteTransport`'s (limit, policy, pacers…)."""
        transport = PoliteTransport(describe, **rules)
        client = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=transport.policy.timeout,
            transport=transport,
        )
        return cls(client, transport)

    @property
    def describe(self) -> str:
        return self.transport.describe

    @property
    def requests_made(self) -> int:
        return self.transport.requests_made

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send through the rules; `Unavailable` once the tries are used up."""
        return self.client.request(method, url, **kwargs)

    def get_json(self, url: str, **kwargs: Any) -> Any:
        """GET and decode JSON; a 4xx is `Unavailable` with the status (401/403: credentials)."""
        response = self.request("GET", url, **kwargs)
        if response.is_error:
            raise Unavailable(
                f"{self.describe}: HTTP {response.status_code} for {urlsplit(url).path}",
                status=response.status_code,
            )
        return response.json()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
