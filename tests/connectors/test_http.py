"""The polite HTTP layer against a real local server: retries, Retry-After, limits, pacing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.http import (
    HostLimits,
    Pacer,
    PoliteClient,
    RetryPolicy,
    Unavailable,
    host_of,
    retry_after,
)


class Script:
    """What the server answers, request by request, and what it saw."""

    def __init__(self, answers: list[tuple[int, dict[str, str], float]]) -> None:
        self.answers = answers
        self.seen = 0
        self.in_flight = 0
        self.peak = 0
        self.lock = threading.Lock()


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script([])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with script.lock:
                index = script.seen
                script.seen += 1
                script.in_flight += 1
                script.peak = max(script.peak, script.in_flight)
            status, headers, delay = (
                script.answers[index] if index < len(script.answers) else (200, {}, 0.0)
            )
            time.sleep(delay)
            with script.lock:  # before answering: the client frees its slot on the answer
                script.in_flight -= 1
            body = b'{"ok": true}'
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        httpd.shutdown()
        httpd.server_close()


def polite(base: str, waits: list[float], **kw) -> PoliteClient:
    return PoliteClient.open("test API", base_url=base, sleep=waits.append, **kw)


def test_429_waits_as_told_then_succeeds(server):
    base, script = server
    script.answers = [(429, {"Retry-After": "7"}, 0.0), (200, {}, 0.0)]
    waits: list[float] = []
    client = polite(base, waits)
    assert client.get_json("/x") == {"ok": True}
    assert waits == [7.0] and script.seen == 2


def test_5xx_storm_backs_off_with_jitter_then_gives_up(server):
    base, script = server
    script.answers = [(502, {}, 0.0)] * 10
    waits: list[float] = []
    client = polite(base, waits, policy=RetryPolicy(tries=4, base_delay=1.0))
    with pytest.raises(Unavailable, match="HTTP 502 after 4 tries"):
        client.get_json("/x")
    assert script.seen == 4 and len(waits) == 3
    assert all(0 <= w <= 1.0 * 2**i for i, w in enumerate(waits))


def test_timeouts_are_retried_and_reported(server):
    base, script = server
    script.answers = [(200, {}, 0.5)] * 3
    waits: list[float] = []
    client = polite(base, waits, policy=RetryPolicy(tries=2, timeout=0.1))
    with pytest.raises(Unavailable, match="timed out after 2 tries"):
        client.get_json("/slow")


def test_a_retry_after_too_long_is_not_waited_for(server):
    base, script = server
    script.answers = [(429, {"Retry-After": "3600"}, 0.0)]
    waits: list[float] = []
    with pytest.raises(Unavailable, match="HTTP 429"):
        polite(base, waits).get_json("/x")
    assert waits == [] and script.seen == 1


def test_4xx_is_not_retried_and_keeps_its_status(server):
    base, script = server
    script.answers = [(401, {}, 0.0)]
    with pytest.raises(Unavailable) as err:
        polite(base, []).get_json("/private?key=SECRET")
    assert err.value.status == 401 and script.seen == 1
    assert "SECRET" not in str(err.value)


def test_requests_in_flight_per_host_never_exceed_the_limit(server, monkeypatch):
    base, script = server
    script.answers = [(200, {}, 0.1)] * 40
    monkeypatch.setattr("connectors.http.HOST_LIMITS", HostLimits())
    clients = [polite(base, [], max_concurrency=3) for _ in range(5)]
    threads = [
        threading.Thread(target=lambda c=c: [c.get_json("/x") for _ in range(8)]) for c in clients
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert script.seen == 40 and 1 < script.peak <= 3


def test_pacer_keeps_to_the_window():
    waits: list[float] = []
    pacer = Pacer(3, 10.0, sleep=lambda s: (waits.append(s), time.sleep(0.001)))
    for _ in range(3):
        pacer.wait()
    assert waits == []
    pacer._starts[0] -= 10.0  # the oldest start leaves the window
    pacer.wait()
    assert waits == []


def test_retry_after_forms():
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert retry_after({"Retry-After": "12"}) == 12.0
    assert retry_after({"Retry-After": "Fri, 20 Nov 2026 10:00:30 GMT"}, now) == 30.0
    assert retry_after({"Retry-After": "soon"}) is None
    assert retry_after({}) is None


def test_host_key():
    assert host_of("https://Acme.atlassian.net/rest/api/3") == "acme.atlassian.net:443"
    assert host_of("http://127.0.0.1:8080/x") == "127.0.0.1:8080"
