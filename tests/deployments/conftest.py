"""Operating stagecast on the session's real Prefect server: `stagecast serve` as a separate
process (as a user runs it), and what the server then reports."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.prefect_server import stop_group

STAGECAST = Path(sys.executable).with_name("stagecast")
T = TypeVar("T")


@pytest.fixture(autouse=True)
def _on_the_test_server(prefect_server):
    """Every test here talks to the session's server."""


def unique(prefix: str) -> str:
    """A name no other test uses on the shared server."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def midday_zone() -> str:
    """A timezone where it is now about noon, so client working hours are open whenever the
    tests run (a fixed zone would make them depend on the time of day)."""
    offset = (12 - datetime.now(UTC).hour + 12) % 24 - 12  # -12..11
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 90) -> T:
    """Poll until `probe` gives something truthy; fail saying what was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextmanager
def serving(config: Path, name: str, api: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`stagecast serve -c CONFIG --name NAME` in its own process, until the block ends.

    `log` must be a new file: serving counts as started when "Serving" appears in it.
    """
    assert not log.exists(), f"{log} exists: give each serving process its own log"
    home = log.parent / f"prefect-home-{name}"
    env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(home)}
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(STAGECAST), "serve", "-c", str(config), "--name", name],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            f"`stagecast serve` to start ({log})",
            lambda: process.poll() is not None or b"Serving" in log.read_bytes(),
            timeout=120,
        )
        assert process.poll() is None, log.read_text(errors="replace")
        yield process
    finally:
        stop_group(process)


def flow_runs(deployment: str) -> list[Any]:
    """Every flow run of `flow/name`, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id])),
            sort=FlowRunSort.START_TIME_ASC,
            limit=200,
        )


def flow_run(run_id: Any) -> Any:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


def state_of(run_id: Any) -> tuple[str, str]:
    """(state type, state name) of a flow run."""
    run = flow_run(run_id)
    return (run.state.type.value, run.state.name) if run.state else ("", "")


def wait_final(run_id: Any, timeout: float = 120) -> Any:
    """The run once it is Completed, Failed, Crashed or Cancelled."""
    final = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
    wait_for(f"run {run_id} to finish", lambda: state_of(run_id)[0] in final, timeout)
    return flow_run(run_id)


def start(deployment: str, **parameters: Any) -> Any:
    """Start a run of a deployment (as the UI's Run button does) without waiting for it."""
    from prefect.deployments import run_deployment

    return run_deployment(deployment, parameters=parameters, timeout=0, as_subflow=False)


def outbox_files(root: Path, project: str, channel: str, prefix: str = "") -> list[Path]:
    folder = root / ".stagecast" / "outbox" / project / channel
    found = sorted(folder.glob(f"{prefix}*.md")) if folder.exists() else []
    return found


def flow_process(flow_run_id: str) -> int:
    """The pid of the process running a flow run (the runner puts its id in the environment)."""
    wanted = f"PREFECT__FLOW_RUN_ID={flow_run_id}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0"):
                return int(entry.name)
        except OSError:
            continue
    return 0
