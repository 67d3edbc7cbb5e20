"""Limits that hold across every process and worker, as Prefect global concurrency limits.

A lease whose renewal fails (the server briefly busy) does not stop a sync halfway: the slot
lapses after a minute at worst, and the ledger keeps what was sent exactly once anyway.

- `stagecast-host-<host:port>`, sized by the smallest `max_concurrency` configured for the host:
  each source pull reserves as many slots as it may have requests in flight (`fan_out`: one
  for Jira and Drive, whose pages follow one another), so requests in flight to the host never
  exceed the limit, whichever processes make them.
- `stagecast-project-<key>`, size 1: one project's runs never overlap (a sync and a daily
  update of the same project wait for each other; different projects run side by side).

`serve` and `deploy` create or resize them. Runs started by a deployment use them strictly: a
missing limit fails the run rather than silently removing the bound. A run from the command
line has no deployment and keeps to the in-process limits (`connectors.http.HOST_LIMITS`).

Why a slot per pull rather than per request: taking a global slot costs 60–170 ms and a few
API calls (benchmarked against a local server), far more than a Jira page; a pull amortises it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from connectors.http import host_of
from connectors.sources.base import Source
from stagecast.config import Config, SourceConfig

log = logging.getLogger("stagecast.limits")

HOST_PREFIX = "stagecast-host-"
PROJECT_PREFIX = "stagecast-project-"
# The shortest lease Prefect allows: a killed holder frees its slot after about a minute.
LEASE_SECONDS = 60
# How long a run waits for another run of the same project before it gives up (and fails).
PROJECT_WAIT_SECONDS = 30 * 60


def source_url(cfg: SourceConfig) -> str | None:
    """The API address of a live source; None for an export file."""
    return getattr(cfg, "url", None)


def host_limit_name(url: str) -> str:
    return HOST_PREFIX + host_of(url)


def project_limit_name(project: str) -> str:
    return PROJECT_PREFIX + project


def wanted_limits(config: Config) -> dict[str, int]:
    """Every limit the config's projects need, with its size."""
    limits: dict[str, int] = {}
    for project in config.projects:
        limits[project_limit_name(project.key)] = 1
        for cfg in project.sources:
            url = source_url(cfg)
            if url is None:
                continue
            name = host_limit_name(url)
            size = int(getattr(cfg, "max_concurrency", 8))
            limits[name] = min(size, limits.get(name, size))
    return limits


def ensure_limits(config: Config, *, reset_stale: bool = False) -> dict[str, int]:
    """Create or resize the config's limits on the Prefect server; returns them.

    With `reset_stale`, slots still counted as held are released when no stagecast run is
    running or pending: Prefect keeps leases in memory, so a server restart leaves slots held
    by nobody, and a project whose limit leaked would never run again.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectAlreadyExists, PrefectHTTPStatusError

    wanted = wanted_limits(config)
    with get_client(sync_client=True) as client:
        idle = reset_stale and not _stagecast_runs_active(client)
        for name, size in wanted.items():
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=size)
                )
                continue
            except (ObjectAlreadyExists, PrefectHTTPStatusError):
                pass  # there already, or created this instant by another `serve`: read it
            current = client.read_global_concurrency_limit_by_name(name)
            update = {}
            if current.limit != size:
                update["limit"] = size
            if not current.active:
                update["active"] = True
            if idle and current.active_slots:
                log.warning("%s: releasing %d slot(s) held by no run", name, current.active_slots)
                update["active_slots"] = 0
            if update:
                client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(**update))
    return wanted


def _stagecast_runs_active(client: object) -> bool:
    """Whether any flow run tagged `stagecast` is running, pending or being cancelled."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    active = FlowRunFilter(
        tags=FlowRunFilterTags(all_=["stagecast"]),
        state=FlowRunFilterState(
            type=FlowRunFilterStateType(
                any_=[StateType.RUNNING, StateType.PENDING, StateType.CANCELLING]
            )
        ),
    )
    return bool(client.read_flow_runs(flow_run_filter=active, limit=1))  # type: ignore[attr-defined]


def _shared() -> bool:
    """Whether this run is a deployment's: only then are the global limits there to use."""
    from flows.runtime import deployed_run

    return deployed_run() is not None


@contextmanager
def project_turn(project: str) -> Iterator[None]:
    """Wait until no other run of this project is running, and hold its turn meanwhile."""
    if not _shared():
        yield
        return
    from prefect.concurrency.sync import concurrency

    with concurrency(
        project_limit_name(project),
        occupy=1,
        strict=True,
        timeout_seconds=PROJECT_WAIT_SECONDS,
        lease_duration=LEASE_SECONDS,
        raise_on_lease_renewal_failure=False,
    ):
        yield


@contextmanager
def host_slots(cfg: SourceConfig, source: Source, sizes: Mapping[str, int]) -> Iterator[None]:
    """Reserve the host's shared slots one pull needs; narrow the pull to what it may hold.

    `sizes` are the limits' sizes (`wanted_limits`): a pull never asks for more than all.
    """
    url = source_url(cfg)
    if url is None or not _shared():
        yield
        return
    from prefect.concurrency.sync import concurrency

    name = host_limit_name(url)
    source.fan_out = max(1, min(source.fan_out, sizes.get(name, 1)))
    with concurrency(
        name,
        occupy=source.fan_out,
        strict=True,
        lease_duration=LEASE_SECONDS,
        raise_on_lease_renewal_failure=False,
    ):
        yield
