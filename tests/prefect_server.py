"""A real `prefect server start` for the tests: its own home, database and port, stopped after.

The flow tests need what only a real server runs: the scheduler, the event triggers and
automations, pause expirations, the UI. One server per test session (it takes ~10 s to start);
its services loop faster than in production so schedules and triggers act within seconds.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

PREFECT = Path(sys.executable).with_name("prefect")

# Fast service loops: a test should not wait a minute for a schedule or a trigger.
FAST_SERVICES = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "5",
    "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_LOOP_SECONDS": "2",
    "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_LOOP_SECONDS": "5",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "0.5",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(home: Path, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a server at `home` on `port` (and of clients that should reach it)."""
    api = f"http://127.0.0.1:{port}/api"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") or k in FAST_SERVICES
    }
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_API_URL": api,
            "PREFECT_SERVER_API_PORT": str(port),
            **FAST_SERVICES,
            **(extra or {}),
        }
    )
    return env


@contextmanager
def running_server(
    home: Path,
    startup_timeout: float = 120,
    database: str | None = None,
    settings: dict[str, str] | None = None,
) -> Iterator[str]:
    """Start a server whose files live in `home` and whose database is `database` (an asyncpg
    URL; default: SQLite in `home`), with `settings` over the fast service loops; yield its API
    URL; stop it (and its children)."""
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    log = (home / "server.log").open("ab")
    extra = {**({"PREFECT_API_DATABASE_CONNECTION_URL": database} if database else {})}
    extra.update(settings or {})
    process = subprocess.Popen(
        [str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server_env(home, port, extra),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_healthy(api, process, startup_timeout, home / "server.log")
        yield api
    finally:
        stop_group(process)
        log.close()


def _wait_healthy(api: str, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"prefect server did not answer within {timeout} s:\n{log.read_text()}")


def stop_group(process: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `grace` seconds."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass
