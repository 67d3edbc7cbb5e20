"""Putting the deployments on a Prefect server: `stagecast serve` and `stagecast deploy`.

Both are idempotent. Deployments are upserted by (flow, name); schedules are updated in place
by slug and the ones no longer in the config are deleted (Prefect itself only adds and
updates); each deployment's automations are deleted and recreated from its triggers. The
global concurrency limits are created or resized on the way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from deployments.build import (
    HEARTBEAT_SECONDS,
    WORKER_JOB_VARIABLES,
    build_deployments,
    crash_watch,
)
from flows.limits import ensure_limits
from stagecast.config import Config

log = logging.getLogger("stagecast.deployments")

# How often a serving process asks for runs to start: an event-triggered report starts within
# this many seconds. One light request per interval.
SERVE_POLL_SECONDS = 2


class ServerUnavailable(Exception):
    """No Prefect server to serve or deploy to: PREFECT_API_URL unset or not answering."""


@dataclass(frozen=True)
class Registered:
    """A deployment as the server now has it."""

    name: str
    id: UUID
    schedules: tuple[str, ...]
    triggers: int


def check_server() -> str:
    """The Prefect API URL, once it answers; else `ServerUnavailable` saying what to do."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise ServerUnavailable(
            "PREFECT_API_URL is not set: start a server (`prefect server start`) and "
            "`export PREFECT_API_URL=http://127.0.0.1:4200/api`"
        )
    with get_client(sync_client=True) as client:
        failure = client.api_healthcheck()
    if failure is not None:
        raise ServerUnavailable(f"the Prefect server at {url} does not answer ({failure})")
    return str(url)


def register(
    config_file: Path, config: Config, name: str, work_pool: str | None = None
) -> tuple[list[Any], list[Registered]]:
    """Create or update every deployment (on `work_pool` for workers, else for serving)."""
    ensure_limits(config, reset_stale=True)
    built = build_deployments(config_file, config, name)
    registered = []
    for deployment in built:
        if work_pool is not None:
            deployment.job_variables = WORKER_JOB_VARIABLES
        deployment_id = deployment.apply(work_pool_name=work_pool)
        wanted = tuple(s.slug for s in deployment.schedules or [] if s.slug)
        _prune_schedules(deployment_id, set(wanted))
        registered.append(
            Registered(
                f"{deployment.flow_name}/{deployment.name}",
                deployment_id,
                wanted,
                len(deployment.triggers),
            )
        )
        log.info("deployment %s/%s: %d schedules", deployment.flow_name, name, len(wanted))
    _replace_automation(crash_watch(name))
    return built, registered


def _replace_automation(automation: Any) -> None:
    """Create a standalone automation, replacing any of the same name (so never two)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for old in client.read_automations_by_name(automation.name):
            client.delete_automation(old.id)
        client.create_automation(automation)


def _prune_schedules(deployment_id: UUID, wanted: set[str]) -> None:
    """Delete the schedules of projects no longer in the config (their pending runs go too)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        for schedule in client.read_deployment_schedules(deployment_id):
            if schedule.slug not in wanted:
                client.delete_deployment_schedule(deployment_id, schedule.id)
                log.info("removed schedule %s (no longer in the config)", schedule.slug)


def ensure_process_pool(pool: str) -> None:
    """The work pool `deploy` registers on: created as a process pool when missing."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            found = client.read_work_pool(pool)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
            log.info("created process work pool %s", pool)
            return
    if found.type != "process":
        raise ServerUnavailable(f"work pool {pool} is a {found.type} pool, not a process pool")


def serve(deployments: Sequence[Any], poll_seconds: float = SERVE_POLL_SECONDS) -> None:
    """Run the deployments' flow runs from this process until it is stopped (SIGTERM, Ctrl-C).

    On shutdown the schedules are paused, so no runs pile up while nobody serves them;
    `deliver-pending` catches up a missed daily update after the restart.
    """
    import prefect

    prefect.serve(
        *deployments,
        pause_on_shutdown=True,
        print_starting_message=False,
        query_seconds=poll_seconds,
        heartbeat_seconds=HEARTBEAT_SECONDS,
    )
