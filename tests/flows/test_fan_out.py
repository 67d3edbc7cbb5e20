"""Which runs of every project fan out into one run per project: only a worker's, on a work pool.

The fan-out itself (runs started, shared by two workers, each project once) is shown end to end
by `tests/deployments/test_workers.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flows.fan_out import fans_out
from flows.runtime import DeployedRun

NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)


def run(work_pool: str | None) -> DeployedRun:
    return DeployedRun("r-1", NOW, False, deployment="d-1", work_pool=work_pool)


def test_only_a_run_on_a_work_pool_of_several_projects_fans_out():
    assert fans_out(run("stagecast"), projects=2)
    assert not fans_out(run("stagecast"), projects=1)  # one project: just sync it
    assert not fans_out(run(None), projects=200)  # `stagecast serve`: threads in its process
    assert not fans_out(None, projects=200)  # the command line, or outside any deployment
