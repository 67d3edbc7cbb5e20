"""The nightly sync of many projects on one, two and four process workers, in one run.

Starts a real `prefect server` on PostgreSQL, registers stagecast's deployments on a process
work pool (`stagecast deploy`), and serves P projects from a local Jira with latency (in its own
process, counting requests in flight). Then, for each worker count W: W `prefect worker start
--pool … --limit L` processes, a fresh state store on PostgreSQL (so every round is a full sync),
one `sync` run without a project, which starts one `sync` run per project for the workers to
share (`flows/fan_out.py`); the round ends when every project's run has finished.

Per round it prints the wall time from the first run's start to the last project's end, the
speed-up over one worker, the machine's CPU busy share (all processes: workers, their runs,
the Prefect server, PostgreSQL), the CPU seconds per project run, the peak of requests in
flight at the Jira against the host's limit, and two lower bounds: the host limit's (every
request, `max_concurrency` at a time, each taking the latency) and the CPU's (the round's busy
CPU seconds spread over every core). Ratios, measured in one run; then the same as JSON.

    .venv/bin/python benchmarks/workers_bench.py --projects 200 --workers 1 2 4
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from multiprocessing import Pipe, Process
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.connectors.fake_jira import FakeJira, issue, version  # noqa: E402
from tests.postgres import fresh_database, postgres_reachable, where  # noqa: E402
from tests.prefect_server import PREFECT, running_server, stop_group  # noqa: E402

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
# Prefect's own service loops (the tests' server runs them faster), so the server's CPU is what
# a production server would spend.
PRODUCTION_LOOPS = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "60",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "5",
    "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_LOOP_SECONDS": "5",
    "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_LOOP_SECONDS": "20",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "5",
}

PROJECT = """
  - key: {key}
    name: {key}
    sources:
      - {{type: jira, url: "{url}", email: pm@acme.example, token: "env:BENCH_JIRA_TOKEN",
          jql: "project = {jira}", max_concurrency: {limit}, timeout_seconds: 60}}
"""


def serve_jira(conn: Connection, projects: int, issues: int, latency: float, page: int) -> None:
    """The local Jira, in its own process: answers "stats" with (requests, peak in flight) and
    "reset" by zeroing both."""
    with FakeJira(latency=latency, page_cap=page) as site:
        v1 = version("v1.0", "2026-12-01")
        for p in range(projects):
            for n in range(1, issues + 1):
                done = n % 3 == 0
                site.add(
                    issue(
                        f"P{p}-{n}",
                        f"任务 {n}",
                        status="Done" if done else "To Do",
                        category="done" if done else "new",
                        resolutiondate="2026-11-18T16:30:00.000+0800" if done else None,
                        fix_versions=[v1],
                    )
                )
        conn.send((site.url, site.token))
        while (ask := conn.recv()) != "stop":
            if ask == "reset":
                with site._lock:
                    site.counts.clear()
                    site.peak = site.in_flight
            conn.send((site.total_requests, site.peak))


def group_cpu(pgid: int) -> float:
    """CPU seconds used so far by a process group's live members and the children they
    reaped (the Prefect server)."""
    hz = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # pgrp
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / hz


class PostgresCPU:
    """CPU seconds of the PostgreSQL backends serving our databases, sampled from /proc twice a
    second (a backend's time is last seen before it exits; short ones may be missed)."""

    def __init__(self, databases: list[str]) -> None:
        self.names = [d.encode() for d in databases]
        self.seen: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        hz = os.sysconf("SC_CLK_TCK")
        while not self.stop.wait(0.5):
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    title = (entry / "cmdline").read_bytes()
                    if not title.startswith(b"postgres: ") or not any(
                        n in title for n in self.names
                    ):
                        continue
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                self.seen[int(entry.name)] = (int(fields[11]) + int(fields[12])) / hz

    def __enter__(self) -> PostgresCPU:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.seen.values())


def children_cpu() -> float:
    """CPU seconds of every child process this one has reaped, with their reaped children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / hz, sum(fields) / hz


@dataclass
class Round:
    workers: int
    slots: int  # runs at once: workers × limit
    seconds: float  # the first run's start to the last project's end
    runs: int
    failed: int
    requests: int
    peak_in_flight: int
    host_limit: int
    host_bound_seconds: float  # every request, host_limit at a time, each taking the latency
    worker_cpu_seconds: float  # the workers and every process they started
    server_cpu_seconds: float  # the Prefect server
    postgres_cpu_seconds: float  # the PostgreSQL backends of Prefect's and the state's databases
    cpu_bound_seconds: float  # all three, spread over every core
    fan_out_seconds: float  # the first run: starting one run per project
    machine_busy_share: float  # every core of the machine, whoever used it
    speed_up: float = 1.0

    @property
    def cpu_seconds_per_run(self) -> float:
        used = self.worker_cpu_seconds + self.server_cpu_seconds + self.postgres_cpu_seconds
        return used / max(1, self.runs)


def start_workers(count: int, pool: str, limit: int, env: dict[str, str], folder: Path) -> list:
    """`prefect worker start` ×count, each once it says it started."""
    workers = []
    for n in range(count):
        log = folder / f"worker-{uuid.uuid4().hex[:6]}.log"
        with log.open("wb") as out:
            workers.append(
                (
                    subprocess.Popen(
                        [
                            *(str(PREFECT), "worker", "start", "--pool", pool, "--type"),
                            *("process", "--limit", str(limit), "--name", f"bench-{n}-{log.stem}"),
                        ],
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    ),
                    log,
                )
            )
    for process, log in workers:
        deadline = time.monotonic() + 120
        while b"started!" not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
    return [p for p, _ in workers]


def children(client: Any, parent: Any) -> list[Any]:
    """Every run the fanned-out run started (its subflows)."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    found: list[Any] = []
    while True:
        page = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent])
            ),
            limit=200,
            offset=len(found),
        )
        found += page
        if len(page) < 200:
            return found


def without_schedules(name: str) -> None:
    """Drop every schedule of the deployments (and the runs they made): each round measures the
    fanned-out sync alone, not the projects' own interval syncs. One update per deployment:
    switching 200 schedules off one by one took the server minutes."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import DeploymentUpdate
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )

    with get_client(sync_client=True) as client:
        deployments = client.read_deployments(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name]))
        )
        for d in deployments:
            client.update_deployment(d.id, DeploymentUpdate(schedules=[]))
        query = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=["SCHEDULED"]))
        )
        while scheduled := client.read_flow_runs(flow_run_filter=query, limit=200):
            for run in scheduled:
                client.delete_flow_run(run.id)


def read_deployment_ms(name: str) -> float:
    """Milliseconds to read a deployment (what a worker does twice per run), median of 5."""
    from prefect.client.orchestration import get_client

    took = []
    with get_client(sync_client=True) as client:
        for _ in range(5):
            began = time.perf_counter()
            client.read_deployment_by_name(name)
            took.append(1000 * (time.perf_counter() - began))
    return round(sorted(took)[2], 1)


def one_round(
    args: argparse.Namespace,
    workers: int,
    cfg: Path,
    body: str,
    env: dict[str, str],
    jira: Connection,
    folder: Path,
    server: int,
    prefect_db: str,
) -> Round:
    """Fresh state, W workers, one fanned-out sync of every project; measured."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    with ExitStack() as stack:
        state = stack.enter_context(fresh_database("stagecast_bench"))
        cfg.write_text(body.replace("STATE_URL", state), encoding="utf-8")
        reaped = children_cpu()
        processes = start_workers(workers, args.pool, args.limit, env, folder)
        with ExitStack() as running:
            for process in processes:
                running.callback(stop_group, process, 30)
            jira.send("reset")
            jira.recv()
            busy0, total0 = machine_busy()
            served = group_cpu(server)
            databases = [prefect_db, str(sa.make_url(state).database)]
            with PostgresCPU(databases) as postgres:
                first = run_deployment(f"sync/{args.name}", timeout=0, as_subflow=False)
                while True:
                    time.sleep(1)
                    with get_client(sync_client=True) as client:
                        runs = children(client, first.id)
                    done = [r for r in runs if r.state and r.state.type.value in FINAL]
                    if len(runs) >= args.projects and len(done) == len(runs):
                        break
            busy1, total1 = machine_busy()
            served = group_cpu(server) - served
            jira.send("stats")
            requests, peak = jira.recv()
        worked = children_cpu() - reaped  # the workers, stopped and reaped with their runs
    with get_client(sync_client=True) as client:
        parent = client.read_flow_run(first.id)
    begin = parent.start_time or min(r.start_time for r in runs if r.start_time)
    end = max(r.end_time for r in runs if r.end_time)
    return Round(
        workers=workers,
        slots=workers * args.limit,
        seconds=(end - begin).total_seconds(),
        runs=len(runs),
        failed=sum(1 for r in runs if r.state.type.value != "COMPLETED"),
        requests=requests,
        peak_in_flight=peak,
        host_limit=args.host_limit,
        host_bound_seconds=requests * args.latency / args.host_limit,
        worker_cpu_seconds=worked,
        server_cpu_seconds=served,
        postgres_cpu_seconds=postgres.seconds,
        cpu_bound_seconds=(worked + served + postgres.seconds) / (os.cpu_count() or 1),
        fan_out_seconds=((parent.end_time or end) - begin).total_seconds(),
        machine_busy_share=(busy1 - busy0) / (total1 - total0),
    )


def server_group(api: str) -> int:
    """The process group of the `prefect server start` serving `api`."""
    port = api.rsplit(":", 1)[1].split("/")[0]
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"server" in argv and port.encode() in argv:
            return os.getpgid(int(entry.name))
    raise RuntimeError(f"no prefect server process for {api}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--limit", type=int, default=2, help="runs at once per worker")
    parser.add_argument("--issues", type=int, default=30, help="issues per project")
    parser.add_argument("--page", type=int, default=10, help="issues per Jira page")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per Jira request")
    parser.add_argument("--host-limit", type=int, default=8, help="the Jira's max_concurrency")
    parser.add_argument("--query-seconds", type=float, default=2, help="worker poll interval")
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    if not postgres_reachable():
        sys.exit(f"needs PostgreSQL at {where()} (STAGECAST_TEST_POSTGRES)")
    args.pool = f"bench-{uuid.uuid4().hex[:6]}"
    args.name = "bench"
    folder = Path(tempfile.mkdtemp(prefix="stagecast-workers-"))
    jira, there = Pipe()
    site = Process(
        target=serve_jira,
        args=(there, args.projects, args.issues, args.latency, args.page),
        daemon=True,
    )
    site.start()
    url, token = jira.recv()
    os.environ["BENCH_JIRA_TOKEN"] = token
    body = "timezone: Asia/Shanghai\nstate: STATE_URL\nprojects:" + "".join(
        PROJECT.format(key=f"p{p}", url=url, jira=f"P{p}", limit=args.host_limit)
        for p in range(args.projects)
    )
    cfg = folder / "stagecast.yaml"
    rounds: list[Round] = []
    with ExitStack() as stack:
        database = stack.enter_context(fresh_database("prefect_bench", "postgresql+asyncpg"))
        prefect_db = str(sa.make_url(database).database)
        api = stack.enter_context(
            running_server(folder / "prefect", database=database, settings=PRODUCTION_LOOPS)
        )
        os.environ["PREFECT_API_URL"] = api
        env = {
            **os.environ,
            "PREFECT_HOME": str(folder / "worker-home"),
            "PREFECT_WORKER_QUERY_SECONDS": str(args.query_seconds),
        }
        with fresh_database("stagecast_bench") as state:
            cfg.write_text(body.replace("STATE_URL", state), encoding="utf-8")
            began = time.monotonic()
            deployed = subprocess.run(
                [
                    *(str(Path(sys.executable).with_name("stagecast")), "deploy", "-c", str(cfg)),
                    *("--pool", args.pool, "--name", args.name),
                ],
                env=env,
                capture_output=True,
                text=True,
            )
            args.deploy_seconds = round(time.monotonic() - began, 1)
        if deployed.returncode != 0:
            sys.exit(f"stagecast deploy failed:\n{deployed.stderr}")
        print(f"  stagecast deploy: {args.deploy_seconds} s", file=sys.stderr)
        args.read_sync_deployment_ms = read_deployment_ms(f"sync/{args.name}")
        without_schedules(args.name)
        server = server_group(api)
        for count in args.workers:
            rounds.append(one_round(args, count, cfg, body, env, jira, folder, server, prefect_db))
            print(f"  {count} worker(s): {rounds[-1].seconds:.1f} s", file=sys.stderr)
    jira.send("stop")
    site.join(timeout=10)
    base = rounds[0].seconds
    for r in rounds:
        r.speed_up = base / r.seconds
    report(args, rounds)


def report(args: argparse.Namespace, rounds: list[Round]) -> None:
    """The table, what bounds each round, then the JSON."""
    cores = os.cpu_count() or 1
    print(
        f"nightly sync of {args.projects} projects, fanned out (one run each): {args.issues} "
        f"issues in pages of {args.page}, {args.latency} s per Jira request, host limit "
        f"{args.host_limit}; {args.limit} runs at once per worker; {cores} cores; Prefect and "
        f"the state store on PostgreSQL; `stagecast deploy` took {args.deploy_seconds} s, a "
        f"read of the sync deployment {args.read_sync_deployment_ms} ms"
    )
    print(
        f"{'workers':>7} {'slots':>5} {'seconds':>8} {'speed-up':>8} {'fan-out':>7} "
        f"{'failed':>6} {'peak/limit':>10} {'host bound':>10} "
        f"{'CPU s/run (wrk+srv+pg)':>23} {'CPU bound':>9} {'÷bound':>6} {'busy':>5}"
    )
    for r in rounds:
        per = [x / max(1, r.runs) for x in (r.worker_cpu_seconds, r.server_cpu_seconds)]
        per.append(r.postgres_cpu_seconds / max(1, r.runs))
        split = f"{r.cpu_seconds_per_run:.1f} ({per[0]:.1f}+{per[1]:.1f}+{per[2]:.1f})"
        print(
            f"{r.workers:>7} {r.slots:>5} {r.seconds:>7.0f}s {r.speed_up:>7.2f}x "
            f"{r.fan_out_seconds:>6.0f}s {r.failed:>6} {r.peak_in_flight:>5}/{r.host_limit:<4} "
            f"{r.host_bound_seconds:>9.0f}s {split:>23} {r.cpu_bound_seconds:>8.0f}s "
            f"{r.seconds / r.cpu_bound_seconds:>6.2f} {r.machine_busy_share:>5.0%}"
        )
    for r in rounds:
        bound = "CPU" if r.cpu_bound_seconds >= r.host_bound_seconds else "the host limit"
        larger = max(r.cpu_bound_seconds, r.host_bound_seconds)
        print(
            f"{r.workers} worker(s): {r.seconds / larger:.2f}x the larger bound ({bound}); "
            f"the Prefect server used "
            f"{r.server_cpu_seconds / r.seconds:.0%} of a core"
        )
    settings = {k: v for k, v in vars(args).items() if k != "json"}
    document = {
        "settings": {**settings, "cores": cores},
        "rounds": [{**asdict(r), "cpu_seconds_per_run": r.cpu_seconds_per_run} for r in rounds],
    }
    text = json.dumps(document, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
