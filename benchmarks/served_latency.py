"""How long a served stagecast takes from a `stagecast.stage.completed` event to the stage report
in the outbox, and where the time goes.

Starts its own `prefect server` (own home, SQLite) and `stagecast serve` on a copy of the demo
workspace, emits the event N times (each for a fresh project key, so the ledger never answers
`duplicate`), and prints per step the median over the runs: event → run created by the
automation, → run started (the serving process polled and spawned it), → run finished (the
flow's own work: sync, render, deliver), → report in the outbox. Also the same report as a
flow run called in a warm process, for the ratio.

    .venv/bin/python benchmarks/served_latency.py [--events 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.deployments.conftest import serving  # noqa: E402
from tests.postgres import fresh_database  # noqa: E402
from tests.prefect_server import running_server  # noqa: E402

PROJECT = """
  - key: {key}
    name: 基准
    stages: [{{name: 设计评审, key: design, match: 设计}}]
    sources: [{{type: trello_export, path: board.json}}]
    channels: [{{name: archive, type: file, audience: internal}}]
    reports: {{stage_report: {{channels: [archive]}}}}
"""


def write_workspace(folder: Path, keys: list[str]) -> Path:
    from tests.trello_boards import card, write_board

    write_board(
        folder / "board.json",
        [
            card("D1", "done", labels=("设计",), done_moves=("2026-11-18T03:00:00Z",)),
            card("D2", "done", labels=("设计",), done_moves=("2026-11-19T03:00:00Z",)),
        ],
    )
    cfg = folder / "stagecast.yaml"
    body = "timezone: Asia/Shanghai\nprojects:" + "".join(PROJECT.format(key=k) for k in keys)
    cfg.write_text(body, encoding="utf-8")
    return cfg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5)
    parser.add_argument(
        "--postgres", action="store_true", help="Prefect's database on the local PostgreSQL"
    )
    options = parser.parse_args()
    count = options.events
    folder = Path(tempfile.mkdtemp(prefix="stagecast-bench-"))
    keys = [f"bench-{uuid.uuid4().hex[:6]}" for _ in range(count + 1)]
    cfg = write_workspace(folder, keys)
    with ExitStack() as stack:
        database = None
        if options.postgres:
            database = stack.enter_context(fresh_database("prefect", "postgresql+asyncpg"))
        api = stack.enter_context(running_server(folder / "prefect", database=database))
        os.environ["PREFECT_API_URL"] = api
        from prefect.client.orchestration import get_client
        from prefect.events import emit_event
        from prefect.events.worker import EventsWorker

        from flows.runtime import local_runs

        with local_runs(), serving(cfg, "bench", api, folder / "serve.log"):
            steps: dict[str, list[float]] = {k: [] for k in ("created", "started", "ran", "file")}
            for key in keys[:count]:
                outbox = folder / ".stagecast" / "outbox" / key / "archive"
                sent = time.time()
                emit_event(
                    "stagecast.stage.completed",
                    {"prefect.resource.id": f"stagecast.project.{key}.stage.design"},
                    payload={"project": key, "stage": "设计评审"},
                )
                EventsWorker.drain_all(timeout=30, at_exit=False)
                while not (outbox.exists() and any(outbox.glob("stage_report*.md"))):
                    time.sleep(0.05)
                arrived = time.time()
                run = _run_of(get_client, key)
                steps["created"].append(run.created.timestamp() - sent)
                steps["started"].append(run.start_time.timestamp() - sent)
                steps["ran"].append((run.end_time - run.start_time).total_seconds())
                steps["file"].append(arrived - sent)
        plain = _in_process(cfg, keys[-1])
    median = {k: statistics.median(v) for k, v in steps.items()}
    backend = "PostgreSQL" if options.postgres else "SQLite"
    print(f"{count} events, Prefect on {backend}, median seconds after the event:")
    print(f"  flow run created by the automation:  {median['created']:5.1f}")
    print(f"  run started by `stagecast serve`:     {median['started']:5.1f}")
    print(f"  run's own duration (sync, render, deliver): {median['ran']:5.1f}")
    print(f"  stage report in the outbox:           {median['file']:5.1f}")
    print(
        f"the same report as a flow run in a warm process: {plain:.2f} s; event → delivered "
        f"is {median['file'] / plain:.0f}x that (the rest: trigger, poll, process start)"
    )
    shutil.rmtree(folder, ignore_errors=True)


def _run_of(get_client, key: str):  # type: ignore[no-untyped-def]
    """The finished stage-report run for one project (polls until it has an end time)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    query = FlowRunFilter(name=FlowRunFilterName(like_=f"stage-report-{key}-"))
    while True:
        with get_client(sync_client=True) as client:
            found = client.read_flow_runs(flow_run_filter=query, limit=5)
        if found and found[0].end_time is not None:
            return found[0]
        time.sleep(0.1)


def _in_process(cfg: Path, key: str) -> float:
    """The same stage report as a flow run called in this (warm) process: seconds."""
    from flows.runtime import local_runs, run_flow
    from flows.stage_report import stage_report_flow

    with local_runs():
        run_flow(stage_report_flow, str(cfg), key, "设计评审")  # warm up the imports
        started = time.perf_counter()
        run_flow(stage_report_flow, str(cfg), key, "设计评审", force=True)
        return time.perf_counter() - started


if __name__ == "__main__":
    main()
