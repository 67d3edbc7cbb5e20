"""The same work with Prefect or without it.

With a Prefect API configured (`PREFECT_API_URL` in the environment, a `.env` file, a
`prefect.toml` or the active Prefect profile), a command runs its work as Prefect flows: each
run is recorded, its events can trigger automations, and the UI shows it. Without one, a
one-shot command (`stagecast sync`, `report`, `deliver-pending`, `demo`) runs the very same
functions plainly: Prefect is not even imported, so no temporary API server starts (about 9 s
and 60 MB of every call before this existed).

The flow modules declare their flows and tasks with `flow` and `step` from here. In a process
that has a Prefect API (a worker, `serve`, the CLI with a server) they are Prefect's own
objects from the start, so deployments load them as ever; elsewhere they stay plain and turn
into Prefect's the first time they are called with a Prefect API configured.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property, update_wrapper
from typing import Any, Generic, ParamSpec, TypeVar

from connectors.prefect_api import prefect_configured

P = ParamSpec("P")
R = TypeVar("R")


def orchestrated() -> bool:
    """Whether this code runs inside a Prefect flow or task run right now (then artifacts,
    events and task runs have somewhere to go)."""
    if "prefect.context" not in sys.modules:
        return False
    from prefect.context import FlowRunContext, TaskRunContext

    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


class PlainFlow(Generic[P, R]):
    """A flow declared in a process without a Prefect API: its function, called directly; the
    Prefect flow it stands for is built the first time it is called with an API configured."""

    def __init__(self, fn: Callable[P, R], options: dict[str, Any]) -> None:
        self.fn = fn
        self.name: str = options.get("name") or fn.__name__
        self.options = options
        update_wrapper(self, fn)

    @cached_property
    def prefect(self) -> Any:
        """The Prefect flow with the declared options (imports Prefect)."""
        return _prefect_flow(self.fn, self.options)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if prefect_configured():
            return self.prefect(*args, **kwargs)  # type: ignore[no-any-return]
        return self.fn(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        """Everything else a Prefect flow has (`to_deployment`, `serve`, …) is the Prefect
        flow's: asked for, it is built."""
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.prefect, name)


def flow(**options: Any) -> Callable[[Callable[P, R]], Any]:
    """Declare a flow: Prefect's `@flow(**options)` where a Prefect API is configured, else a
    `PlainFlow` (Prefect not imported). `threads=N` runs its steps on N threads."""

    def declare(fn: Callable[P, R]) -> Any:
        if prefect_configured():
            return _prefect_flow(fn, options)
        return PlainFlow(fn, options)

    return declare


def _prefect_flow(fn: Callable[..., Any], options: dict[str, Any]) -> Any:
    from prefect import flow as prefect_flow
    from prefect.task_runners import ThreadPoolTaskRunner

    given = dict(options)
    if threads := given.pop("threads", None):
        given["task_runner"] = ThreadPoolTaskRunner(max_workers=threads)
    return prefect_flow(**given)(fn)


def as_prefect_flow(found: Any) -> Any:
    """The Prefect flow behind a declared flow (deployments need Prefect's own object)."""
    return found.prefect if isinstance(found, PlainFlow) else found


class Step(Generic[P, R]):
    """A piece of a flow's work (one project's sync, one report's delivery): a Prefect task
    run inside a flow run, a plain call outside one."""

    def __init__(self, fn: Callable[P, R], options: dict[str, Any]) -> None:
        self.fn = fn
        self.options = options
        update_wrapper(self, fn)

    @cached_property
    def task(self) -> Any:
        """The Prefect task; never cached by Prefect, since every step reads or sends."""
        from prefect import task as prefect_task
        from prefect.cache_policies import NONE

        return prefect_task(**self.options, cache_policy=NONE)(self.fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        if orchestrated():
            return self.task(*args, **kwargs)  # type: ignore[no-any-return]
        return self.fn(*args, **kwargs)

    def submit(self, *args: P.args, **kwargs: P.kwargs) -> Future[R] | Any:
        """Start it concurrently: on the flow's task runner, or on a thread of our own (as
        many as the flows' task runner has)."""
        if orchestrated():
            return self.task.submit(*args, **kwargs)
        return _threads().submit(self.fn, *args, **kwargs)


# Projects synced at once: more than a host's usual limit (8 in flight, which the host's own
# semaphore keeps), so that while some projects compute and store, others keep every request
# slot busy. Measured at 60 x 500 on 2 cores: 8 threads 6.3 s, 12 threads 5.7 s, 16 and 24 no
# faster and more memory (one project's tasks per thread).
THREADS = 12
_pool: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="stagecast")
    return _pool


def step(**options: Any) -> Callable[[Callable[P, R]], Step[P, R]]:
    """Declare a step with the options of Prefect's `@task` (name, task_run_name, …)."""

    def declare(fn: Callable[P, R]) -> Step[P, R]:
        return Step(fn, options)

    return declare
