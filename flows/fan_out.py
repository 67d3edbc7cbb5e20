"""Spreading a run of many projects over the workers of a work pool: one run per project.

A `sync` of several projects (a schedule's group of projects that share an interval and a
timezone, or all of them when started without a project) in one process (the CLI, `stagecast
serve`) runs them side by side as threads of that process: no process start per project. On a
work pool, the run a worker took instead starts one run of its own deployment per project with
`run_deployment` and returns their ids. Subflows or tasks would stay in the worker process that
took the first run; separate runs go back to the pool, so N workers share the projects.

Each of those runs keeps the limits any run keeps, whichever worker takes it: the project's
turn (`stagecast-project-<key>`: one run of a project at a time) and each source host's slots
(`stagecast-host-<host>`), both global concurrency limits held by the server.

The first run does not wait for the others: it would hold a worker's slot all night, and on a
worker started with `--limit 1` the runs it waits for could never start. A run that fails or
crashes tells the team itself, as every run does (the team-alert automation).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from flows.runtime import DeployedRun

log = logging.getLogger("stagecast.fan_out")

# Runs being created at once: enough to hide each request's round trip, few enough that the
# server keeps answering the workers.
STARTING_AT_ONCE = 8


@dataclass(frozen=True)
class Started:
    """One project's run, started on the pool."""

    project: str
    flow_run: str
    name: str


@dataclass(frozen=True)
class FannedOut:
    """What a run that fanned out did: started one run per project for the pool's workers."""

    work_pool: str
    runs: tuple[Started, ...]

    @property
    def problems(self) -> list[str]:
        return []  # each run started here reports its own


def fans_out(run: DeployedRun | None, projects: int) -> bool:
    """Whether a run of every project should start one run per project: only a worker's run
    (a deployment on a work pool) of more than one project."""
    return run is not None and run.work_pool is not None and projects > 1


def start_per_project(
    run: DeployedRun, projects: Sequence[str], parameters: Mapping[str, Any]
) -> FannedOut:
    """Start one run of this run's deployment per project, with `parameters` and the project.

    Each is linked to this run as a subflow in the UI; its idempotency key is this run and the
    project, so a retried or re-executed run starts nothing twice. They are created a few at a
    time: one after another, 200 took minutes on a busy server, while workers waited.
    """
    from prefect.utilities.asyncutils import run_coro_as_sync

    assert run.work_pool is not None
    started = run_coro_as_sync(_start_all(run, projects, parameters)) or []
    log.info(
        "started %d runs, one per project, on work pool %s: %s",
        len(started),
        run.work_pool,
        ", ".join(s.name for s in started),
    )
    return FannedOut(run.work_pool, tuple(started))


async def _start_all(
    run: DeployedRun, projects: Sequence[str], parameters: Mapping[str, Any]
) -> list[Started]:
    """`run_deployment` per project, STARTING_AT_ONCE at a time, through one client. (Run in
    the flow run's context, so each is its subflow.)"""
    from prefect.client.orchestration import get_client
    from prefect.deployments import arun_deployment

    gate = asyncio.Semaphore(STARTING_AT_ONCE)
    async with get_client() as client:
        # By name, which saves each start a request (by id it reads the flow too for the name).
        deployment = await client.read_deployment(UUID(run.deployment))
        flow = await client.read_flow(deployment.flow_id)
        name = f"{flow.name}/{deployment.name}"

        async def one(key: str) -> Started:
            async with gate:
                child = await arun_deployment(
                    name,
                    client=client,
                    parameters={**parameters, "project": key},
                    timeout=0,
                    idempotency_key=f"{run.id}:{key}",
                )
            return Started(key, str(child.id), child.name)

        return list(await asyncio.gather(*(one(key) for key in projects)))
