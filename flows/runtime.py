"""How stagecast runs Prefect on one machine: quietly, offline and without needless waits.

Without `PREFECT_API_URL`, Prefect starts a temporary local API server for the process. These
defaults make that clean: no telemetry calls to a network we may not have, a start-up timeout
long enough for a first run's database migrations on a small machine, and no flow heartbeat
thread (its shutdown join costs up to a second per flow run; heartbeats only matter to a server
watching for crashed runs, which `serve`/`deploy` keep).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from flows.engine import as_prefect_flow, orchestrated, prefect_configured

if TYPE_CHECKING:
    from prefect.states import State

PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    # INFO lines ("Beginning flow run…") go to the UI; the terminal shows warnings and errors.
    "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL": "WARNING",
    # Our own loggers reach the flow run's logs in the UI too.
    "PREFECT_LOGGING_EXTRA_LOGGERS": "stagecast,connectors,flows",
    # ...and outside a flow run (validate, a connector used directly) they just log locally.
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}


# Prefect's background senders of events and logs, by their loggers' names.
QUEUE_WORKERS = ("EventsWorker", "APILogWorker")


class _QuietDrain(logging.Filter):
    """Drop "Still processing items" notes: draining the queue at the end is the plan."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Still processing items")


OUR_LOGGERS = ("stagecast", "connectors", "flows")


def apply_prefect_defaults() -> None:
    """Set our defaults before Prefect reads its settings; the user's environment wins.

    Our loggers speak at INFO (what was fetched, which flags, what was sent where): the run's
    logs in the UI show it, while the terminal's handlers still show warnings only.
    """
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    for worker in QUEUE_WORKERS:
        logger = logging.getLogger(worker)
        if not any(isinstance(f, _QuietDrain) for f in logger.filters):
            logger.addFilter(_QuietDrain())


@contextmanager
def local_runs() -> Iterator[None]:
    """Run a command's flows in this process: plainly without a Prefect API (`flows.engine`),
    else as flow runs without the per-run heartbeat thread.

    On the way out, events and logs still queued are sent while the API server is up, so the
    UI has them all and nothing is left for Prefect's exit handlers to complain about.
    """
    apply_prefect_defaults()
    if not prefect_configured():
        yield
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        try:
            yield
        finally:
            EventsWorker.drain_all(timeout=30, at_exit=False)
            APILogWorker.drain_all(timeout=30, at_exit=False)


class Outcome(Protocol):
    """A run's typed result that knows what went wrong (`RunResult`, `PendingRun`)."""

    @property
    def problems(self) -> list[str]: ...


R = TypeVar("R", bound=Outcome)


class RunProblems(Exception):
    """What a run that finished but did not fully succeed ends with: its reasons, and its result.

    Prefect resolves a Failed state's data into an exception (a deployed run's engine does so
    and logs it); this one reads as the reasons and still carries the result.
    """

    def __init__(self, result: Outcome) -> None:
        super().__init__("; ".join(result.problems))
        self.result = result

    def __reduce__(self) -> tuple[Any, ...]:
        return (RunProblems, (self.result,))


def finish(result: R) -> R | State:
    """The flow's end: its result, or a Failed state carrying it when something went wrong.

    A source that was unavailable or a report that did not reach its channel makes the run
    Failed in the UI, with the reason on top (and the team alerted); the result still travels
    with the state, so the CLI prints it and exits 1.
    """
    if not result.problems or not orchestrated():
        return result
    from prefect.states import Failed

    return Failed(message="; ".join(result.problems), data=RunProblems(result))


def run_flow(flow: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a flow in this process and return its result, whether it ended Completed or Failed:
    as a Prefect flow run where a Prefect API is configured, else its function, plainly.

    A crash (an exception the flow did not turn into a result) is raised as itself.
    """
    if not prefect_configured():
        return flow.fn(*args, **kwargs)  # type: ignore[attr-defined]
    state = as_prefect_flow(flow)(*args, return_state=True, **kwargs)
    result = state.result(raise_on_failure=False)
    if isinstance(result, RunProblems):
        return result.result
    if isinstance(result, BaseException):
        raise result
    return result


@dataclass(frozen=True)
class DeployedRun:
    """The flow run we are in, when a deployment started it (a schedule, a trigger, the UI).

    `scheduled_for` is the moment the run was scheduled for: stable across a suspension and its
    resumption, so a daily update keeps its period however late it runs. `resumed` is true
    when this execution follows a person's decision on an approval. `deployment` is the
    deployment's id; `work_pool` the pool whose workers run it (None when `serve` runs it).
    """

    id: str
    scheduled_for: datetime
    resumed: bool
    deployment: str = ""
    work_pool: str | None = None


APPROVAL_PAUSE = "approval"


def deployed_run() -> DeployedRun | None:
    """This run, if a deployment started it; None for a CLI run or outside any flow."""
    if not orchestrated():
        return None
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    if run is None or run.deployment_id is None:
        return None
    scheduled = run.expected_start_time or run.start_time or datetime.now(UTC)
    return DeployedRun(
        id=str(run.id),
        scheduled_for=scheduled,
        resumed=APPROVAL_PAUSE in (run.empirical_policy.pause_keys or set()),
        deployment=str(run.deployment_id),
        work_pool=run.work_pool_name,
    )


def run_link(flow_run_id: str) -> str | None:
    """The run's page in the Prefect UI (None when no UI address is known)."""
    from prefect.utilities.urls import url_for

    return url_for("flow-run", obj_id=flow_run_id)
