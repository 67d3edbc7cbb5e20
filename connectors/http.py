"""Being gentle with vendors' APIs: requests in flight per host, retries, pacing, timeouts.

Every source talks to its vendor through these pieces, so the rules hold everywhere:
- at most `max_concurrency` requests in flight to one host, across every project and source
  in this process (`HOST_LIMITS`);
- 429 and 503 wait as the server says (`Retry-After`, seconds or an HTTP date), other 5xx and
  timeouts back off exponentially with full jitter, and after a bounded number of tries the
  caller gets `Unavailable`, which a source turns into "unavailable for this run";
- every request has a timeout;
- optional pacing (`RatePacer`) keeps a token under a vendor's documented rate.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

Sleep = Callable[[float], None]


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


def retry_after(
    headers: httpx.Headers | dict[str, str], now: datetime | None = None
) -> float | None:
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


class RatePacer:
    """At most `calls` starts per `period` seconds (a sliding window), shared by threads."""

    def __init__(self, calls: int, period: float, sleep: Sleep = time.sleep) -> None:
        self.calls, self.period, self._sleep = calls, period, sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Block until one more call fits in the window, then count it."""
        while True:
            with self._lock:
                now = time.monotonic()
                while self._starts and now - self._starts[0] >= self.period:
                    self._starts.popleft()
                if len(self._starts) < self.calls:
                    self._starts.append(now)
                    return
                delay = self.period - (now - self._starts[0])
            self._sleep(max(delay, 0.001))


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass
class PoliteClient:
    """An `httpx.Client` wrapper that applies host limits, pacing and retries to each request.

    `describe` names the vendor in errors ("Trello api.trello.com"); URLs with credentials in
    their query are never put into messages.
    """

    client: httpx.Client
    describe: str
    max_concurrency: int = 8
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    pacers: tuple[RatePacer, ...] = ()
    sleep: Sleep = time.sleep
    requests_made: int = 0

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send with retries; return the first non-retryable response (2xx, 4xx, …)."""
        kwargs.setdefault("timeout", self.policy.timeout)
        last = "no answer"
        for attempt in range(self.policy.tries):
            for pacer in self.pacers:
                pacer.wait()
            try:
                with HOST_LIMITS.slot(str(self.client.base_url or url), self.max_concurrency):
                    self.requests_made += 1
                    response = self.client.request(method, url, **kwargs)
            except httpx.TimeoutException:
                last = "timed out"
            except httpx.TransportError as err:
                last = f"connection failed ({type(err).__name__})"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                last = f"HTTP {response.status_code}"
                wait = self._wait_for(response, attempt)
                if wait is None:
                    break
                if attempt + 1 < self.policy.tries:
                    self.sleep(wait)
                continue
            if attempt + 1 < self.policy.tries:
                self.sleep(self.policy.backoff(attempt))
        raise Unavailable(f"{self.describe}: {last} after {self.policy.tries} tries")

    def _wait_for(self, response: httpx.Response, attempt: int) -> float | None:
        """How long to wait before retrying this response; None when waiting is pointless."""
        asked = retry_after(response.headers)
        if asked is not None and response.status_code in (429, 503):
            return None if asked > self.policy.max_retry_after else asked
        return self.policy.backoff(attempt)

    def get_json(self, url: str, **kwargs: Any) -> Any:
        """GET and decode JSON; a 4xx is `Unavailable` with the status (401/403: credentials)."""
        response = self.request("GET", url, **kwargs)
        if response.is_error:
            raise Unavailable(
                f"{self.describe}: HTTP {response.status_code} for {urlsplit(url).path}",
                status=response.status_code,
            )
        return response.json()
