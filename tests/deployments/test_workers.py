"""Scale-out on a process work pool, as a firm with many projects runs it: Prefect's own database
on PostgreSQL (the session's server) and the state store on PostgreSQL, `stagecast deploy`, two
`prefect worker start --type process` processes, and the run of the sync schedule the projects
share (started by hand, as the schedule would), which fans out one run per project. One worker
is killed (`kill -9`) while its runs are in flight.

The slow multi-process test of the suite (`-m "not slow"` leaves it out): each run is its own
Python process, about 5 CPU seconds of Prefect and imports on this 2-core machine.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from connectors.state import JOURNAL
from connectors.store import StateStore
from flows.sync import sync_project
from stagecast.config import load_config
from tests.connectors.fake_jira import issue, version
from tests.deployments.conftest import flow_run, outbox_files, start, unique, wait_for
from tests.deployments.test_limits import TimedJira, Visit
from tests.postgres import fresh_database, postgres_reachable, where
from tests.prefect_server import FAST_SERVICES, PREFECT, stop_group

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not postgres_reachable(), reason=f"needs PostgreSQL for Prefect and the state: {where()}"
    ),
]

# Fewer than the issue's 20: every run is a process of ~5 CPU seconds (Prefect's imports and
# bookkeeping) and this machine has 2 cores, so 20 projects (41 runs) took about 3 minutes and
# 10 took 85 s; 8 (17 runs) take about 70 s and still keep both workers' slots full.
# STAGECAST_WORKER_PROJECTS=20 runs the issue's size.
PROJECTS = int(os.environ.get("STAGECAST_WORKER_PROJECTS", "8"))
SCHEDULER_LOOP_SECONDS = int(FAST_SERVICES["PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS"])
HOST_LIMIT = 3  # the Jira's max_concurrency: requests in flight across every worker
SLOTS = 3  # runs at once per worker (`--limit`)
ZONE = ZoneInfo("Asia/Shanghai")
V1 = version("v1.0", "2026-12-01")

PROJECT = """
  - key: {key}
    name: {key}
    sources:
      - {{type: jira, url: "{url}", email: pm@acme.example, token: "env:WORKERS_JIRA_TOKEN",
          jql: "project = P{n}", max_concurrency: {limit}, timeout_seconds: 60}}
    channels: [{{name: team, type: file, audience: internal, language: en}}]
    reports: {{stage_report: {{channels: [team]}}}}
"""


def tasks(n: int, moment: str | None) -> list[dict]:
    """Project P{n}'s one stage: one task done, the other done at `moment` (None: in progress)."""
    done = {"status": "Done", "category": "done", "resolution": "Done"}
    last = (
        {**done, "resolutiondate": moment, "updated": moment}
        if moment
        else {"status": "In Progress", "category": "indeterminate"}
    )
    return [
        issue(
            f"P{n}-1",
            "设计稿",
            **done,
            resolutiondate="2026-11-18T16:30:00.000+0800",
            assignee="张三",
            fix_versions=[V1],
        ),
        issue(f"P{n}-2", "接口评审", assignee="李四", fix_versions=[V1], **last),
    ]


def pool_runs(pool: str) -> list:
    """Every flow run of the pool's deployments, as the server has them now."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import WorkPoolFilter, WorkPoolFilterName

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool])), limit=200
        )


def worker_of(run: object) -> str | None:
    """The worker that started a run: it labels each run it takes."""
    return getattr(run, "labels", {}).get("prefect.worker.name")


def kind(run: object) -> str:
    """`sync` or `stage-report`, from the run's name."""
    name = str(getattr(run, "name", ""))
    return "stage-report" if name.startswith("stage-report-") else name.split("-", 1)[0]


def state_type(run: object) -> str:
    found = getattr(run, "state", None)
    return found.type.value if found is not None else ""


def pause_pool(pool: str, paused: bool) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolUpdate

    with get_client(sync_client=True) as client:
        client.update_work_pool(pool, WorkPoolUpdate(is_paused=paused))


class GatedJira(TimedJira):
    """The timed local Jira whose answers can be held at a gate: a search that has not been
    answered (no visit recorded) cannot finish until the gate opens."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.gate = threading.Event()
        self.gate.set()

    def _search_jql(self, path, api, params):  # type: ignore[no-untyped-def]
        self.gate.wait(timeout=60)
        return super()._search_jql(path, api, params)


def catch_a_mid_pull(pool: str, jira: GatedJira, keys: list[str], timeout: float = 150) -> list:
    """Worker A's runs at a moment one of them is a project's sync that has not had its Jira
    answer, and no run of the pool is between a worker and its process (Pending). From then
    on the Jira holds its answers and the pool is paused (no worker takes a new run), so the kill
    that follows catches runs in their own processes, one of them mid-pull, none half-handed.

    (A run a worker has taken but not yet started stays Pending for good when the worker dies:
    Prefect 3.8.8 has nothing that moves it. The README says so; this test does not do it.)
    """
    jira_of = {k: f"P{n}" for n, k in enumerate(keys)}
    deadline = time.monotonic() + timeout
    runs: list = []
    while time.monotonic() < deadline:
        runs = pool_runs(pool)
        if not [r for r in a_running(runs) if r.parameters.get("project")]:
            time.sleep(0.25)
            continue
        jira.gate.clear()
        pause_pool(pool, True)
        time.sleep(jira.latency + 0.3)  # answers already past the gate leave and are recorded
        settle = time.monotonic() + 60
        while time.monotonic() < settle and any(state_type(r) == "PENDING" for r in runs):
            time.sleep(0.2)
            runs = pool_runs(pool)
        answered = {re.search(r"project = (P\d+)", v.jql)[1] for v in jira.visits}  # type: ignore[index]
        mine = a_running(runs)
        waiting = [
            r
            for r in mine
            if r.parameters.get("project") and jira_of[r.parameters["project"]] not in answered
        ]
        if waiting and not any(state_type(r) == "PENDING" for r in runs):
            return mine
        jira.gate.set()
        pause_pool(pool, False)
    raise AssertionError(f"worker A never held a sync mid-pull in {timeout} s:\n{described(runs)}")


def a_running(runs: list) -> list:
    return [r for r in runs if worker_of(r) == "worker-a" and state_type(r) == "RUNNING"]


def described(runs: list) -> str:
    return "\n".join(
        f"{r.name} {r.state.type.value if r.state else '?'} {worker_of(r)}: "
        f"{r.state.message if r.state else ''}"
        for r in runs
    )


def start_worker(pool: str, log: Path, home: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                *(str(PREFECT), "worker", "start", "--pool", pool, "--type", "process"),
                *("--limit", str(SLOTS), "--name", log.stem),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def schedules_off(name: str) -> dict:
    """Switch the deployments' schedules off, so no run starts at a quarter past in the middle of
    the test, and delete the runs their scheduler made already (switching a schedule off leaves
    them: near an occurrence, one ran beside the test's own); the sync schedule's parameters
    (its group of projects), to start that run by hand as the schedule would. Called before any
    worker starts, so none of those runs can have been taken."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )

    group: dict = {}
    with get_client(sync_client=True) as client:
        query = DeploymentFilter(name=DeploymentFilterName(any_=[name]))
        for deployment in client.read_deployments(deployment_filter=query):
            for schedule in client.read_deployment_schedules(deployment.id):
                client.update_deployment_schedule(deployment.id, schedule.id, active=False)
                if schedule.slug and schedule.slug.startswith("sync-"):
                    group = dict(schedule.parameters)
        scheduled = FlowRunFilter(
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=["SCHEDULED"]))
        )
        # Twice: a scheduler loop (2 s on the test server) that read the schedules while they
        # were still on may insert its runs after the first pass.
        for wait in (0, SCHEDULER_LOOP_SECONDS + 1):
            time.sleep(wait)
            for run in client.read_flow_runs(flow_run_filter=scheduled, deployment_filter=query):
                client.delete_flow_run(run.id)
    return group


def runs_of(deployment: str, **filters: object) -> list:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    parent = filters.get("parent")
    with get_client(sync_client=True) as client:
        found = client.read_deployment_by_name(deployment)
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[found.id])),
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent])
            )
            if parent
            else None,
            limit=200,
        )


def state(run_id: str) -> str:
    found = flow_run(run_id)
    return found.state.type.value if found.state else ""


def prefect_database_holding(run_id: object) -> str | None:
    """The PostgreSQL database whose `flow_run` table holds this run: Prefect's own."""
    import sqlalchemy as sa

    from tests.postgres import PG_URL

    listing = "SELECT datname FROM pg_database WHERE datname LIKE 'prefect%'"
    admin = sa.create_engine(PG_URL, poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        names = list(conn.scalars(sa.text(listing)))
    admin.dispose()
    for name in names:
        url = sa.make_url(PG_URL).set(database=name)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                found = conn.execute(
                    sa.text("SELECT 1 FROM flow_run WHERE id = :id"), {"id": str(run_id)}
                ).first()
        except sa.exc.SQLAlchemyError:
            found = None
        finally:
            engine.dispose()
        if found:
            return name
    return None


def test_two_workers_share_a_nightly_sync_and_a_killed_worker_loses_nothing(
    tmp_path, prefect_server, run_cli, capsys
):
    began = time.monotonic()
    prefix, name, pool = unique("wrk"), unique("night"), unique("pool")
    keys = [f"{prefix}-{n}" for n in range(PROJECTS)]
    with (
        GatedJira(latency=0) as jira,
        fresh_database("stagecast_workers") as state_url,
    ):
        for n in range(PROJECTS):
            jira.add(*tasks(n, None))
        os.environ["WORKERS_JIRA_TOKEN"] = jira.token or ""
        cfg = tmp_path / "stagecast.yaml"
        cfg.write_text(
            f"timezone: Asia/Shanghai\nstate: {state_url}\nprojects:"
            + "".join(
                PROJECT.format(key=k, url=jira.url, n=n, limit=HOST_LIMIT)
                for n, k in enumerate(keys)
            ),
            encoding="utf-8",
        )
        config = load_config(cfg)
        assert run_cli("deploy", "-c", str(cfg), "--pool", pool, "--name", name).code == 0
        nightly_parameters = schedules_off(name)
        assert nightly_parameters == {"projects": keys}  # one schedule for all of them
        logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
        a, b = (start_worker(pool, log, tmp_path / f"home-{log.stem}") for log in logs)
        try:
            # While the workers start: yesterday's snapshots, so tonight's sync sees each
            # project's stage complete; then the Jira answers slowly, as a busy site does.
            now = datetime.now(ZONE)
            with StateStore(config.state) as store:
                for project in config.projects:
                    sync_project(project, store, now - timedelta(days=1))
            moment = now.strftime("%Y-%m-%dT%H:%M:%S.000%z")
            jira.issues[:] = [t for n in range(PROJECTS) for t in tasks(n, moment)]
            jira.visits.clear()
            jira.latency = 0.4
            for log in logs:
                wait_for(f"{log.name} to start", lambda log=log: b"started!" in log.read_bytes())
            nightly = start(f"sync/{name}", **nightly_parameters)
            assert prefect_database_holding(nightly.id), "Prefect's server is not on PostgreSQL"

            in_flight = catch_a_mid_pull(pool, jira, keys)
            os.kill(a.pid, signal.SIGKILL)  # the worker only: its runs are their own sessions
            killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
            a.wait(timeout=10)
            jira.gate.set()
            pause_pool(pool, False)

            def all_done() -> list:
                runs = pool_runs(pool)
                reports = [r for r in runs if kind(r) == "stage-report"]
                final = all(r.state and r.state.is_final() for r in runs)
                return runs if final and len(reports) >= PROJECTS else []

            try:
                wait_for("every sync and stage report to finish", all_done, timeout=150)
            except AssertionError as err:
                raise AssertionError(f"{err}\n{described(pool_runs(pool))}") from None
            time.sleep(3)  # a late duplicate trigger would have started its run by now
            runs = pool_runs(pool)
        finally:
            stop_group(b, grace=10)
            if a.poll() is None:
                stop_group(a, grace=5)

        # Every project was synced once by a run of the nightly fan-out and reported once; no
        # run failed or crashed, the killed worker's in-flight ones included (they finished
        # in their own processes), and no team alert was needed.
        assert all(r.state.type.value == "COMPLETED" for r in runs), described(runs)
        syncs = [r for r in runs if kind(r) == "sync" and r.parameters.get("project")]
        reports = [r for r in runs if kind(r) == "stage-report"]
        assert sorted(r.parameters["project"] for r in syncs) == sorted(keys), described(runs)
        assert all(r.parent_task_run_id for r in syncs)  # the nightly run's subflows
        assert sorted(r.parameters["project"] for r in reports) == sorted(keys), described(runs)
        assert len(runs) == 1 + 2 * PROJECTS, described(runs)  # the nightly run, syncs, reports
        # Both workers ran some: the projects were shared, not run in one worker's process.
        by_worker = defaultdict(list)
        for run in runs:
            by_worker[worker_of(run)].append(run)
        assert set(by_worker) == {"worker-a", "worker-b"}, described(runs)
        # Worker A ran exactly what it had when it died: everything after was worker B's.
        assert {r.id for r in by_worker["worker-a"]} >= {r.id for r in in_flight}
        finished = {r.id: r.end_time for r in runs}
        assert all(finished[r.id] > killed_wall for r in in_flight if r.parameters.get("project"))
        assert all(r.start_time < killed_wall for r in by_worker["worker-a"])
        assert len(by_worker["worker-b"]) > len(by_worker["worker-a"]), described(runs)

        # Every delivery sent once: one `sent` stage report per project in the ledger, one file
        # and one journal line in the outbox.
        with StateStore(config.state) as store:
            ledger = {k: store.deliveries(project=k) for k in keys}
            history = {k: store.history(k, datetime.now(ZONE) + timedelta(hours=1)) for k in keys}
        for key in keys:
            assert [(d.report, d.status) for d in ledger[key]] == [("stage_report", "sent")]
            assert [p.name for p in outbox_files(tmp_path, key, "team")] == ["stage_report-v1-0.md"]
            journal = config.outbox / JOURNAL / f"{key}.jsonl"
            assert [json.loads(line)["id"] for line in journal.read_text().splitlines()] == [
                ledger[key][0].id
            ]
            # yesterday's, the nightly sync's and the stage report's own sync
            assert len(history[key]) == 3, [s.as_of for s in history[key]]

        # No host over its limit, whichever worker made the requests; one project's pulls
        # (the sync and its stage report's) never overlapped.
        assert read_limit(f"stagecast-host-{jira.url.removeprefix('http://')}") == HOST_LIMIT
        assert 1 < jira.peak <= HOST_LIMIT, jira.peak
        by_project: dict[str, list[Visit]] = defaultdict(list)
        for visit in jira.visits:
            by_project[re.search(r"project = (P\d+)", visit.jql)[1]].append(visit)  # type: ignore[index]
        assert len(by_project) == PROJECTS
        for project, visits in by_project.items():
            visits.sort(key=lambda v: v.start)
            assert len(visits) == 2, (project, visits)
            for earlier, later in itertools.pairwise(visits):
                assert later.start >= earlier.end, f"{project}: two pulls overlapped"

        # The next deliver-pending finds nothing to settle and sends nothing again.
        pending = run_cli("deliver-pending", "-c", str(cfg), "--json")
        assert pending.code == 0, pending.stderr
        assert pending.json["deliveries"] == []
        with StateStore(config.state) as store:
            assert {k: store.deliveries(project=k) for k in keys} == ledger
    with capsys.disabled():
        print(
            f"\n{PROJECTS} projects on 2 workers; A killed {killed_at - began:.0f} s in with "
            f"{len(in_flight)} runs in flight, which finished: A ran "
            f"{len(by_worker['worker-a'])} runs, B {len(by_worker['worker-b'])}; peak "
            f"{jira.peak} requests in flight (limit {HOST_LIMIT}); "
            f"{time.monotonic() - began:.0f} s in all"
        )


def read_limit(name: str) -> int:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return int(client.read_global_concurrency_limit_by_name(name).limit)
