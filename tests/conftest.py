"""Shared fixtures: one Prefect test server per run, the CLI in-process, the real samples."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.runtime import apply_prefect_defaults

SAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "samples"


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout)

    def project(self, key: str) -> dict[str, Any]:
        return next(p for p in self.json["projects"] if p["key"] == key)


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect API server (and database) for the whole test run."""
    apply_prefect_defaults()
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def run_cli():
    """Invoke `stagecast ARGS…` and return exit code, stdout and stderr."""
    runner = CliRunner()

    def run(*args: str) -> Outcome:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def samples() -> Path:
    """The real Trello exports in ../shared/samples, or a skip that says they are absent."""
    if not SAMPLES.is_dir():
        pytest.skip(f"real Trello exports not found: {SAMPLES.resolve()} is absent")
    return SAMPLES.resolve()
