"""stagecast's Jira sync against a naive script, on a local Jira with latency, in one run.

Serves P projects of N issues from the local Jira used by the tests (real HTTP, the real `jira`
library on both sides), then measures:
- stagecast: every project synced concurrently (as the `sync` flow does), host limit C;
- stagecast again moments later (the incremental sync);
- a naive script: one `jira` client, projects one after another, every field, every page.
For each: wall time, requests made, the lower bound (the requests that must be made, paced by
the allowed concurrency and the latency), the ratio to that bound, and peak Python memory.

    .venv/bin/python benchmarks/sync_bench.py --projects 10 --issues 400 --latency 0.05 \
        --concurrency 4
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import Pipe, Process
from multiprocessing.connection import Connection
from pathlib import Path

from jira import JIRA

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' local Jira

from connectors.store import StateStore
from flows.sync import sync_project
from stagecast.config import ProjectConfig
from tests.connectors.fake_jira import FakeJira, issue, version

PAGE = 100  # what Cloud's search/jql serves per page when fields are asked for


@dataclass
class Measured:
    name: str
    seconds: float
    requests: int
    bound_seconds: float
    peak_mib: float

    def line(self) -> str:
        ratio = self.seconds / self.bound_seconds if self.bound_seconds else float("nan")
        return (
            f"{self.name:<28} {self.seconds:7.2f} s  {self.requests:5d} req  "
            f"bound {self.bound_seconds:6.2f} s  ratio {ratio:5.2f}  peak {self.peak_mib:6.1f} MiB"
        )


def measure(
    name: str, site: Site, bound: Callable[[int], float], work: Callable[[], None], trace: bool
) -> Measured:
    """Time `work` (or trace its peak memory), and count the requests the site saw."""
    before = site.total_requests
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] if trace else 0
    if trace:
        tracemalloc.stop()
    made = site.total_requests - before
    return Measured(name, seconds, made, bound(made), peak / 2**20)


def seed(site: FakeJira, projects: int, issues: int) -> None:
    """P projects of N issues each, a third done, spread over two versions."""
    v1, v2 = version("v1.0", "2026-12-01"), version("v2.0", "2027-01-15")
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
                    fix_versions=[v1 if n % 2 else v2],
                )
            )


def project_configs(site: Site, projects: int, concurrency: int) -> list[ProjectConfig]:
    """One stagecast project per Jira project, all on the one host."""
    return [
        ProjectConfig.model_validate(
            {
                "key": f"p{p}",
                "name": f"P{p}",
                "timezone": "Asia/Shanghai",
                "sources": [
                    {
                        "type": "jira",
                        "url": site.url,
                        "email": site.email,
                        "token": "env:BENCH_JIRA_TOKEN",
                        "jql": f"project = P{p}",
                        "max_concurrency": concurrency,
                    }
                ],
            }
        )
        for p in range(projects)
    ]


def naive(site: Site, projects: int) -> None:
    """What a hand-written script does: one client, one project after another, all fields."""
    client = JIRA(server=site.url, basic_auth=(site.email or "", site.token or ""), timeout=30)
    for p in range(projects):
        token = None
        while True:
            page = client.enhanced_search_issues(
                f"project = P{p}", nextPageToken=token, maxResults=PAGE, json_result=True
            )
            token = page.get("nextPageToken")
            if not token:
                break
    client.close()


def serve(conn: Connection, projects: int, issues: int, latency: float) -> None:
    """The local Jira, in its own process so it does not share our interpreter's lock."""
    with FakeJira(latency=latency) as site:
        seed(site, projects, issues)
        conn.send((site.url, site.email, site.token))
        while conn.recv() == "count":
            conn.send(site.total_requests)


@dataclass
class Site:
    """The served Jira as the benchmark sees it: where it is and how many requests it saw."""

    url: str
    email: str | None
    token: str | None
    conn: Connection

    @property
    def total_requests(self) -> int:
        self.conn.send("count")
        return int(self.conn.recv())


def run_all(site: Site, args: argparse.Namespace, trace: bool) -> list[Measured]:
    """The three runs, on a fresh state store."""
    configs = project_configs(site, args.projects, args.concurrency)
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

    def paced(made: int) -> float:
        # Pages of one project follow each other's tokens; projects run side by side.
        chain = made // args.projects
        return max(math.ceil(made / args.concurrency), chain) * args.latency

    def sequential(made: int) -> float:
        return made * args.latency

    with tempfile.TemporaryDirectory() as tmp:
        store = StateStore(f"sqlite:///{Path(tmp) / 'bench.db'}")

        def ours(at: datetime) -> Callable[[], None]:
            def run() -> None:
                with ThreadPoolExecutor(max_workers=8) as pool:
                    list(pool.map(lambda p: sync_project(p, store, at), configs))

            return run

        later = now + timedelta(minutes=5)
        results = [
            measure("stagecast, first (full)", site, paced, ours(now), trace),
            measure("stagecast, 5 min later", site, paced, ours(later), trace),
            measure(
                "naive script (sequential)",
                site,
                sequential,
                lambda: naive(site, args.projects),
                trace,
            ),
        ]
        store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=10)
    parser.add_argument("--issues", type=int, default=400)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    ours_end, theirs_end = Pipe()
    server = Process(target=serve, args=(theirs_end, args.projects, args.issues, args.latency))
    server.start()
    url, email, token = ours_end.recv()
    site = Site(url, email, token, ours_end)
    os.environ["BENCH_JIRA_TOKEN"] = token or ""
    timed = run_all(site, args, trace=False)
    traced = run_all(site, args, trace=True)  # memory apart: tracing slows allocation-heavy code
    ours_end.send("stop")
    server.join()
    for t, m in zip(timed, traced, strict=True):
        t.peak_mib = m.peak_mib
    pages = math.ceil(args.issues / PAGE)
    print(
        f"{args.projects} projects × {args.issues} issues, {args.latency * 1000:.0f} ms latency, "
        f"max_concurrency {args.concurrency}, {pages} pages a project"
    )
    for r in timed:
        print(r.line())
    first, naive_run = timed[0], timed[2]
    print(
        f"stagecast full sync: {naive_run.seconds / first.seconds:.1f}x faster than the naive "
        f"script, {first.peak_mib / naive_run.peak_mib:.1f}x its peak memory (stagecast also "
        "normalises, computes and stores every project)"
    )


if __name__ == "__main__":
    main()
