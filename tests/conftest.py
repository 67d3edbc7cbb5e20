"""Shared fixtures: one Prefect test server per run, the CLI in-process, the real samples."""

from __future__ import annotations

import json
import os
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.runtime import apply_prefect_defaults
from tests.postgres import fresh_database, postgres_reachable
from tests.prefect_server import running_server

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
def prefect_server(tmp_path_factory):
    """One real `prefect server start` (own home, database and port) for the whole test run.

    Its database is a fresh PostgreSQL one where PostgreSQL answers (as a firm with many
    projects runs it: SQLite locks under the global limits' traffic of two serving processes),
    else SQLite. Yields its API URL; this process's Prefect client talks to it, and so do the
    processes the tests start (their environment carries `PREFECT_API_URL`).
    """
    apply_prefect_defaults()
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home = tmp_path_factory.mktemp("prefect-server")
    with ExitStack() as stack:
        database = None
        if postgres_reachable():
            database = stack.enter_context(fresh_database("prefect", "postgresql+asyncpg"))
        api = stack.enter_context(running_server(home, database=database))
        os.environ["PREFECT_API_URL"] = api
        try:
            with temporary_settings({PREFECT_API_URL: api}):
                yield api
        finally:
            os.environ.pop("PREFECT_API_URL", None)


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
