"""Headless Chromium (Debian's `chromium`, installed by `make browser`) for the tests that look
at a page as a person would: the Prefect UI and the HTML email.

`open_in_chromium` loads a page, saves a screenshot and returns the DOM (enough for a
single-page app). `look_at` drives the browser over the DevTools protocol instead, for what the
DOM text cannot tell: whether an image loaded, how wide an element was laid out, and what the
console reported while the page loaded.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (make browser)"
)

_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def open_in_chromium(url: str, screenshot: Path, workdir: Path) -> str:
    """Render a UI page headless the way a person would see it; returns its DOM, saves a PNG.

    The virtual-time budget lets the single-page app fetch and draw before the capture.
    """
    assert CHROMIUM is not None
    profile = workdir / f"chromium-{uuid.uuid4().hex[:6]}"
    done = subprocess.run(
        [
            CHROMIUM,
            *_FLAGS,
            f"--user-data-dir={profile}",
            "--window-size=1400,1000",
            "--virtual-time-budget=10000",
            f"--screenshot={screenshot}",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@dataclass(frozen=True)
class Seen:
    """What a page showed: the value of the test's expression, and the console's errors."""

    value: Any
    errors: list[str]


def look_at(url: str, expression: str, screenshot: Path, workdir: Path, width: int = 720) -> Seen:
    """Load `url` in a window `width` pixels wide, wait for it and its images, evaluate
    `expression` (JavaScript, its value returned as JSON) and save a full-page screenshot."""
    assert CHROMIUM is not None
    profile = workdir / f"chromium-{uuid.uuid4().hex[:6]}"
    browser = subprocess.Popen(
        [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with connect(_page_socket(profile), max_size=None, open_timeout=30) as ws:
            return _Session(ws).look(url, expression, screenshot, width)
    finally:
        browser.terminate()
        browser.wait(timeout=30)


def _page_socket(profile: Path) -> str:
    """The DevTools address of the browser's first page, once it listens."""
    active = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 60
    while not active.exists() or not active.read_text().strip():
        assert time.monotonic() < deadline, "chromium did not open its DevTools port"
        time.sleep(0.1)
    port = active.read_text().split()[0]
    for _ in range(100):
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            return str(pages[0]["webSocketDebuggerUrl"])
        time.sleep(0.1)
    raise AssertionError("chromium opened no page")


class _Session:
    """One DevTools conversation: commands by id, events collected on the way."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.errors: list[str] = []
        self.loaded = False

    def look(self, url: str, expression: str, screenshot: Path, width: int) -> Seen:
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        while not self.loaded:
            assert time.monotonic() < deadline, f"{url} did not finish loading"
            self.handle(json.loads(self.ws.recv(timeout=60)))
        value = self.evaluate(expression)
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": width, "height": size["height"], "scale": 1},
        )
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        return Seen(value, list(self.errors))

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=60))
            if message.get("id") == self.next_id:
                assert "error" not in message, f"{method}: {message['error']}"
                return dict(message.get("result", {}))
            self.handle(message)

    def handle(self, event: dict[str, Any]) -> None:
        """Note what the console would show in red, and when the page has loaded."""
        method, params = event.get("method"), event.get("params", {})
        if method == "Page.loadEventFired":
            self.loaded = True
        elif method == "Runtime.exceptionThrown":
            self.errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append(" ".join(str(a.get("value")) for a in params.get("args", [])))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"{entry.get('text')} {entry.get('url', '')}".strip())
