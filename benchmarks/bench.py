"""The issue's figures in one run: `stagecast` as a user runs it, against a local Jira.

A local Jira (tests/connectors/fake_jira.py: real HTTP, the real `jira` library on both sides)
runs in its own process, with pages of 100, a latency per request and a cap on the requests it
serves at once. Every stagecast figure is the real command, `stagecast sync -c CFG --json`, in
a child process of its own with a fresh workspace and SQLite state database, without
`PREFECT_API_URL` (unless it says "served"), timed from its start to its exit:

- fixed cost: a sync of one empty Jira project (the median of `--fixed-runs`, after one run not
  counted, as a user who runs the command every day finds it);
- P projects × N issues, a full sync: wall time, requests, the lower bound (pages / in flight ×
  latency, or one project's chain of pages if longer), (wall − fixed) / bound, requests / pages;
- the same projects again, nothing changed: requests and (wall − fixed) against its bound
  (one request per project plus two per host, in flight at once);
- a naive script on the same server: one `jira` client, the projects one after another, every
  page with every field; how many times longer it takes than the stagecast command;
- peak RSS (the child's `ru_maxrss`) of the one-shot command at P × N and at the big size;
  beside it the served path's: the same P × N sync with `PREFECT_API_URL` pointing at a real
  `prefect server` started for it, so it runs as flows recorded there (`--no-served` skips it,
  `--quick` too unless `--served`);
- reports rendered per second: `render_report` of the demo's daily update and stage report, in
  both languages, for both audiences (each call renders markdown, text and HTML);
- chat deliveries per second: the demo's daily update through the delivery ledger (SQLite) to
  local webhooks of each platform (tests/connectors/fake_webhooks.py) at the platform's own
  pacing per webhook: to ten groups one after another, as a report run sends them; and to one
  webhook, one more than the platform's window allows (WeCom and DingTalk: 21, so 60 s), all
  platforms at once, against the pace's floor.

Each row shows the issue's target beside the figure (the targets are for 60 × 500, 100 ms, 8 in
flight) and whether it is met; then the same as JSON (and into `--json PATH`). Never a timed
assertion: `tests/test_benchmarks.py` only checks that the command runs and its JSON is sane.

    .venv/bin/python benchmarks/bench.py                    # the issue's sizes: a few minutes
    .venv/bin/python benchmarks/bench.py --quick            # small sizes: well under a minute
    .venv/bin/python benchmarks/bench.py --json bench.json  # and keep the JSON
    make bench BENCH_ARGS=--quick
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the tests' local servers

PAGE = 100  # what Cloud's search/jql serves per page when fields are asked for
HOSTS = 1  # every project is on the one local Jira
CLI = Path(sys.executable).with_name("stagecast")
TOKEN_VARIABLE = "BENCH_JIRA_TOKEN"
PLATFORMS = ("wecom", "dingtalk", "feishu", "slack", "teams")
# The served path's server runs Prefect's own service loops (the tests' server runs them faster).
PRODUCTION_LOOPS = {
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "60",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_LOOP_SECONDS": "5",
    "PREFECT_SERVER_SERVICES_PAUSE_EXPIRATIONS_LOOP_SECONDS": "5",
    "PREFECT_SERVER_SERVICES_CANCELLATION_CLEANUP_LOOP_SECONDS": "20",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "5",
}

# The issue's targets (at 60 × 500, 100 ms, 8 in flight).
FIXED_COST_S = 1.5
FULL_VS_BOUND = 1.3
REQUESTS_PER_PAGE = 1.05
RESYNC_VS_BOUND = 1.5
NAIVE_RATIO = 5.0
RSS_MB = 150.0
BIG_RSS_FACTOR = 1.5

CONFIG_HEAD = """\
timezone: Asia/Shanghai
state: sqlite:///.stagecast/state.db
outbox: .stagecast/outbox
projects:
"""
PROJECT = """\
  - key: {key}
    name: {name}
    sources:
      - {{type: jira, url: "{url}", email: "{email}", token: "env:{variable}",
          jql: "project = {name}", max_concurrency: {cap}, timeout_seconds: 60}}
"""


# --- the local Jira, in its own process ----------------------------------------------------


def jira_keys(prefix: str, count: int) -> list[str]:
    """The Jira project keys of one size: A0, A1, …"""
    return [f"{prefix}{p}" for p in range(count)]


def generated_issues(project: str, count: int) -> list[dict[str, Any]]:
    """`count` issues of one project: a third done, spread over two versions (deterministic,
    so an unchanged re-sync sees the very same issues)."""
    from tests.connectors.fake_jira import issue, version

    v1, v2 = version("v1.0", "2026-12-01"), version("v2.0", "2027-01-15")
    found = []
    for n in range(1, count + 1):
        done = n % 3 == 0
        found.append(
            issue(
                f"{project}-{n}",
                f"任务 {n}",
                status="Done" if done else "To Do",
                category="done" if done else "new",
                resolutiondate="2026-11-18T16:30:00.000+0800" if done else None,
                fix_versions=[v1 if n % 2 else v2],
            )
        )
    return found


_PROJECT_CLAUSE = re.compile(r"\bproject\s*=\s*\"?([A-Za-z][A-Za-z0-9_]*)\"?", re.IGNORECASE)


def stand_in(sizes: dict[str, int], latency: float, cap: int) -> Any:
    """The tests' local Jira, made for thousands of issues, so it spends little of the CPU the
    command needs: each project's issues generated on first use, a query of one project reads
    only that project's issues and is kept for its next pages; and no more than `cap` requests
    are served at once (more wait, so the bound holds for any client). It still counts every
    request, and the peak in flight as the requests arrive."""
    from tests.connectors.fake_jira import FakeJira, JqlError, parse_jql

    class StandIn(FakeJira):
        def __post_init__(self) -> None:
            super().__post_init__()
            self._gate = threading.BoundedSemaphore(cap)
            self._generated: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
            self._answers: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
            self._cache = threading.Lock()

        def _kept(self, kept: OrderedDict[str, Any], key: str, make: Callable[[], Any]) -> Any:
            with self._cache:
                if key not in kept:
                    kept[key] = make()
                    while len(kept) > 4 * cap:  # the projects being read, and a few more
                        kept.popitem(last=False)
                kept.move_to_end(key)
                return kept[key]

        def _select(self, jql: str) -> Any:
            # The issues never change, so a query's answer is kept for its next pages (the
            # search itself, filter and sort, would cost ~10 ms of CPU a page at 1,000 issues).
            match = _PROJECT_CLAUSE.search(jql)
            if match is None:  # the subset has no OR: `project = X` bounds the whole query
                return super()._select(jql)
            try:
                query = parse_jql(jql, self.user_tz)
            except JqlError as err:
                return (400, {"errorMessages": [str(err)], "errors": {}})
            key = match.group(1).upper()
            issues = self._kept(
                self._generated, key, lambda: generated_issues(key, sizes.get(key, 0))
            )
            return self._kept(self._answers, jql, lambda: query.run(issues))

        def _enter(self, method: str, path: str) -> Any:
            fault = super()._enter(method, path)
            self._gate.acquire()
            return fault

        def _leave(self) -> None:
            self._gate.release()
            super()._leave()

    return StandIn(latency=latency, page_cap=PAGE)


def serve_jira(conn: Connection, sizes: dict[str, int], latency: float, cap: int) -> None:
    """Serve until told "stop"; "reset" zeroes the counts; each ask is answered with
    (requests per method and path, peak in flight, CPU seconds used) since the last reset."""
    with stand_in(sizes, latency, cap) as site:
        conn.send((site.url, site.email, site.token))
        since = 0.0
        while (ask := conn.recv()) != "stop":
            used = sum(os.times()[:2])
            with site._lock:
                if ask == "reset":
                    site.counts.clear()
                    site.peak = site.in_flight
                    since = used
                conn.send((dict(site.counts), site.peak, used - since))


@dataclass
class Site:
    """The local Jira as the benchmark sees it."""

    url: str
    email: str
    token: str
    conn: Connection

    def reset(self) -> None:
        self.conn.send("reset")
        self.conn.recv()

    def seen(self, child: Child) -> None:
        """What the Jira saw since the last reset, onto `child`."""
        self.conn.send("count")
        counts, peak, cpu = self.conn.recv()
        child.requests, child.peak_in_flight = sum(counts.values()), int(peak)
        child.by_path, child.jira_cpu_seconds = counts, cpu


@contextmanager
def running_jira(sizes: dict[str, int], latency: float, cap: int) -> Iterator[Site]:
    ours, theirs = get_context("fork").Pipe()
    server = get_context("fork").Process(
        target=serve_jira, args=(theirs, sizes, latency, cap), daemon=True
    )
    server.start()
    try:
        url, email, token = ours.recv()
        yield Site(url, email or "", token or "", ours)
    finally:
        ours.send("stop")
        server.join(timeout=10)
        if server.is_alive():
            server.kill()


# --- children: the command, the naive script ------------------------------------------------


@dataclass
class Child:
    """One measured child process."""

    seconds: float
    exit_code: int
    max_rss_mb: float
    requests: int = 0
    peak_in_flight: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    jira_cpu_seconds: float = 0.0  # what the stand-in took of the machine meanwhile
    problem: str | None = None  # why its output cannot be trusted, if so

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.problem is None


def run_child(argv: list[str], env: dict[str, str], folder: Path, timeout: float) -> Child:
    """Run to the end; the wall time from start to exit and the child's own peak RSS
    (`wait4`: this process only, not what it starts). stdout and stderr go to files beside it."""
    with (folder / "stdout").open("wb") as out, (folder / "stderr").open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=out, stderr=err, env=env, cwd=folder)
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        seconds = time.perf_counter() - started
    process.returncode = code = os.waitstatus_to_exitcode(status)
    problem = None
    if code != 0:
        tail = (folder / "stderr").read_text(errors="replace")[-1500:]
        problem = f"exit {code} after {seconds:.1f} s: …{tail}"
    return Child(seconds, code, usage.ru_maxrss * 1024 / 1e6, problem=problem)


def cli_env(site: Site, api: str | None = None) -> dict[str, str]:
    """Our environment without a Prefect server (or with `api`), with the Jira token."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env[TOKEN_VARIABLE] = site.token
    if api is None:  # nor one from a Prefect profile of this machine: the one-shot path
        env["PREFECT_HOME"] = tempfile.mkdtemp(prefix="stagecast-bench-prefect-")
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if api is not None:
        env["PREFECT_API_URL"] = api
    return env


def workspace(root: Path, name: str, site: Site, keys: list[str], cap: int) -> Path:
    """A fresh folder with a config of one stagecast project per Jira project."""
    folder = root / name
    folder.mkdir(parents=True)
    projects = "".join(
        PROJECT.format(
            key=key.lower(),
            name=key,
            url=site.url,
            email=site.email,
            variable=TOKEN_VARIABLE,
            cap=cap,
        )
        for key in keys
    )
    (folder / "stagecast.yaml").write_text(CONFIG_HEAD + projects, encoding="utf-8")
    return folder


def sync(site: Site, folder: Path, env: dict[str, str], projects: int, timeout: float) -> Child:
    """`stagecast sync -c CFG --json` in `folder`, with what the Jira saw meanwhile; the JSON
    must name every project with its source read."""
    site.reset()
    child = run_child(
        [str(CLI), "sync", "-c", str(folder / "stagecast.yaml"), "--json"], env, folder, timeout
    )
    site.seen(child)
    if child.ok:
        child.problem = _check_document(folder / "stdout", projects)
    return child


def _check_document(stdout: Path, projects: int) -> str | None:
    try:
        document = json.loads(stdout.read_text(encoding="utf-8"))
        found = document["projects"]
        read = all(s["ok"] for p in found for s in p["sources"])
    except (ValueError, KeyError, TypeError) as err:
        return f"its JSON could not be read: {err!r}"
    if len(found) != projects or not read:
        return f"its JSON shows {len(found)} of {projects} projects, sources all read: {read}"
    return None


def naive(site: Site, folder: Path, keys: list[str], timeout: float) -> Child:
    """This file as `naive`: one `jira` client, project after project, every page."""
    folder.mkdir(parents=True)
    site.reset()
    env = {**os.environ, TOKEN_VARIABLE: site.token}
    argv = [sys.executable, str(Path(__file__).resolve()), "naive", site.url, site.email, *keys]
    child = run_child(argv, env, folder, timeout)
    site.seen(child)
    return child


def naive_script(url: str, email: str, keys: list[str]) -> None:
    """What a hand-written script does: one client, one project after another, all fields."""
    from jira import JIRA

    client = JIRA(server=url, basic_auth=(email, os.environ[TOKEN_VARIABLE]), timeout=60)
    issues = 0
    for key in keys:
        token = None
        while True:
            page = client.enhanced_search_issues(
                f"project = {key}", nextPageToken=token, maxResults=PAGE, json_result=True
            )
            issues += len(page["issues"])
            token = page.get("nextPageToken")
            if not token:
                break
    client.close()
    print(json.dumps({"issues": issues}))


# --- in this process: rendering and chat delivery -------------------------------------------


@dataclass
class Demo:
    """The demo's project synced as `stagecast demo` does up to today, without Prefect."""

    folder: Path
    config: Any
    project: Any
    store: Any
    result: Any


@contextmanager
def demo_today(root: Path) -> Iterator[Demo]:
    from connectors.store import StateStore
    from flows.demo import BOARD, DEMO_SOURCE, HISTORY, PROJECT, TODAY, YESTERDAY, fresh_workspace
    from flows.sync import sync_project
    from stagecast.calendar import parse_as_of
    from stagecast.config import load_config

    folder = root / "demo"
    config = load_config(fresh_workspace(folder))
    project = config.project(PROJECT)
    (folder / ".stagecast").mkdir(exist_ok=True)
    store = StateStore(config.state)
    try:
        boards = sorted((folder / HISTORY.parent).glob("acme-board-*.json"))
        earlier = [(b, f"{b.stem[-10:]}T17:30:00+08:00") for b in boards if b.name < HISTORY.name]
        today = [(folder / HISTORY, YESTERDAY), (DEMO_SOURCE / BOARD, TODAY)]
        for board, moment in [*earlier, *today]:
            shutil.copyfile(board, folder / BOARD)
            result = sync_project(project, store, parse_as_of(moment, config.tz))
        yield Demo(folder, config, project, store, result)
    finally:
        store.close()


def demo_contexts(demo: Demo) -> list[tuple[str, str, str, Any]]:
    """(kind, language, audience, context): the daily update and the stage report of the stage
    that completed today, in both languages, for both audiences."""
    from stagecast.evaluate import calendar_for
    from stagecast.reports.context import daily_update_context, stage_report_context

    snapshot, calendar = demo.result.snapshot, calendar_for(demo.project)
    history = demo.store.history(demo.project.key, snapshot.as_of)
    found = []
    for language in ("zh-CN", "en"):
        for audience in ("client", "internal"):
            common: dict[str, Any] = {
                "audience": audience,
                "language": language,
                "calendar": calendar,
            }
            daily = daily_update_context(demo.project, snapshot, demo.result.previous, **common)
            stage = stage_report_context(demo.project, snapshot, "design-review", history, **common)
            found += [
                ("daily_update", language, audience, daily),
                ("stage_report", language, audience, stage),
            ]
    return found


def render_rate(demo: Demo, seconds: float) -> dict[str, Any]:
    """Reports rendered per second (each: markdown, text and HTML; no chart image, which is
    drawn once per snapshot and cached beside the outbox)."""
    from stagecast.reports.render import render_report

    contexts = demo_contexts(demo)

    def render_all() -> None:
        for kind, language, audience, context in contexts:
            render_report(kind, context, language=language, audience=audience)

    render_all()  # templates compiled and catalogues read once, as in any process
    rounds, started = 0, time.perf_counter()
    while True:
        render_all()
        rounds += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            break
    return {
        "reports": rounds * len(contexts),
        "seconds": elapsed,
        "per_second": rounds * len(contexts) / elapsed,
        "kinds": sorted({c[0] for c in contexts}),
    }


CHAT_CONFIG = """\
timezone: Asia/Shanghai
state: sqlite:///.stagecast/chat.db
outbox: .stagecast/chat-outbox
projects:
  - key: acme-portal
    name: ACME 客户门户
    language: zh-CN
    sources: [{{type: trello_export, path: exports/acme-board.json, stage_field: label}}]
    channels:
{channels}
"""


def chat_rates(demo: Demo, groups: int, paced: int | None) -> dict[str, Any]:
    """For each platform, the demo's daily update (internal, Chinese) through the delivery
    ledger to local webhooks, each paced at the platform's documented rate:
    - to `groups` webhooks (chat groups), one after another as one report run sends them;
    - to one webhook, a day's update after another (`paced` of them; default: one more than
      the platform's window allows, so the pacer must wait once), the platforms side by side.
    """
    from connectors.channels.base import ChannelContext, build_channel
    from connectors.store import StateStore
    from flows.delivery import DeliveryRequest, deliver
    from stagecast.config import parse_config
    from stagecast.evaluate import calendar_for
    from stagecast.reports.context import daily_update_context
    from stagecast.reports.render import render_report
    from tests.connectors.fake_webhooks import FakeWebhooks

    snapshot = demo.result.snapshot
    calendar = calendar_for(demo.project)
    context = daily_update_context(
        demo.project,
        snapshot,
        demo.result.previous,
        audience="internal",
        language="zh-CN",
        calendar=calendar,
    )
    message = render_report("daily_update", context, language="zh-CN", audience="internal")
    found: dict[str, Any] = {}
    with FakeWebhooks() as hooks:
        # Per platform: `groups` chat groups, one webhook for the paced run, one to warm up on.
        names = [*(str(n) for n in range(groups)), "paced", "warm-up"]
        bots = {p: {name: hooks.bot(p) for name in names} for p in PLATFORMS}
        lines = []
        for platform, its in bots.items():
            for name, bot in its.items():
                variable = f"BENCH_HOOK_{platform}_{name}".upper().replace("-", "_")
                os.environ[variable] = bot.url
                lines.append(
                    f"      - {{name: {platform}-{name}, type: {platform},"
                    f' webhook: "env:{variable}", audience: internal}}'
                )
        text = CHAT_CONFIG.format(channels="\n".join(lines))
        config = parse_config(text, demo.folder, check_environment=True)
        project = config.project("acme-portal")
        ctx = ChannelContext(project=project.key, outbox=config.outbox)
        store = StateStore(config.state)

        def send(channel: Any, period: str, ledger: Any = store) -> bool:
            dated = replace(message, period=period)
            request = DeliveryRequest(dated, channel, ctx, snapshot.as_of, calendar)
            return deliver(ledger, request).status == "sent"

        def one_webhook(platform: str) -> None:
            channel = project.channel(f"{platform}-paced")
            calls, period = build_channel(channel, ctx).rate  # webhooks only
            count = paced or calls + 1
            today = snapshot.as_of.date()
            days = [(today - timedelta(days=count - n)).isoformat() for n in range(count)]
            started = time.perf_counter()
            sent = sum(send(channel, day, ledgers[platform]) for day in days)
            found[platform]["one_webhook"] = {
                "deliveries": count,
                "sent": sent,
                "posts": len(bots[platform]["paced"].delivered),
                "seconds": time.perf_counter() - started,
                "pace": f"{calls} per {period:g} s",
                "pace_floor_seconds": (count - 1) // calls * period,
            }

        # The paced runs go side by side, each with a ledger of its own: writers of one SQLite
        # file would wait for each other, and the pace is what they measure. (Opened here:
        # migrations cannot run in threads at once.)
        folder = demo.folder / ".stagecast"
        ledgers = {p: StateStore(f"sqlite:///{folder / f'paced-{p}.db'}") for p in PLATFORMS}
        try:
            for platform, its in bots.items():
                send(project.channel(f"{platform}-warm-up"), message.period)  # imports, a client
                channels = [project.channel(f"{platform}-{n}") for n in range(groups)]
                started = time.perf_counter()
                sent = sum(send(channel, message.period) for channel in channels)
                elapsed = time.perf_counter() - started
                found[platform] = {
                    "deliveries": groups,
                    "sent": sent,
                    "posts": sum(len(its[str(n)].delivered) for n in range(groups)),
                    "seconds": elapsed,
                    "per_second": groups / elapsed,
                }
            threads = [threading.Thread(target=one_webhook, args=(p,)) for p in PLATFORMS]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for ledger in [store, *ledgers.values()]:
                ledger.close()
    return found


# --- the run -------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table and one entry of the JSON."""

    key: str
    measure: str
    value: float | None
    unit: str
    target: str = "—"
    met: bool | None = None
    detail: str = ""
    limit: float | None = None  # the target's number (≤, or ≥ for the naive script's ratio)

    def figure(self) -> str:
        if self.value is None:
            return "failed"
        digits = 0 if self.unit in ("requests",) or abs(self.value) >= 100 else 2
        return f"{self.value:,.{digits}f} {self.unit}".strip()


def pages_of(projects: int, issues: int) -> int:
    """Search pages a full read needs: an empty project still takes one."""
    return projects * max(1, math.ceil(issues / PAGE))


def sync_bound(projects: int, issues: int, cap: int, latency: float) -> float:
    """Every page, `cap` at a time, each taking the latency; one project's pages follow each
    other's tokens, so never less than one project's chain."""
    per_project = max(1, math.ceil(issues / PAGE))
    return max(pages_of(projects, issues) / cap, per_project) * latency


def measure(args: argparse.Namespace, root: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Every figure, in one run."""
    cap, latency, timeout = args.in_flight, args.latency, args.child_timeout
    small, big = jira_keys("A", args.projects), jira_keys("B", args.big_projects)
    sizes = {"EMPTY": 0, **dict.fromkeys(small, args.issues), **dict.fromkeys(big, args.big_issues)}
    runs: dict[str, Any] = {}
    with running_jira(sizes, latency, cap) as site:
        env = cli_env(site)
        say("warm-up: one empty project, not counted (compiles .pyc files, fills the page cache)")
        sync(site, workspace(root, "warm-up", site, ["EMPTY"], cap), env, 1, timeout)
        fixed_runs = []
        for n in range(args.fixed_runs):
            say(f"fixed cost: one empty project ({n + 1}/{args.fixed_runs})")
            folder = workspace(root, f"fixed-{n}", site, ["EMPTY"], cap)
            fixed_runs.append(sync(site, folder, env, 1, timeout))
        runs["fixed"] = fixed_runs

        say(f"full sync: {args.projects} × {args.issues}")
        folder = workspace(root, "full", site, small, cap)
        runs["full"] = sync(site, folder, env, args.projects, timeout)
        say("the same again, nothing changed")
        runs["unchanged"] = sync(site, folder, env, args.projects, timeout)

        say(f"naive script: {args.projects} × {args.issues}")
        runs["naive"] = naive(site, root / "naive", small, timeout)

        if args.big_projects:
            say(f"full sync: {args.big_projects} × {args.big_issues}")
            folder = workspace(root, "big", site, big, cap)
            runs["big"] = sync(site, folder, env, args.big_projects, timeout)

        if args.served:
            from tests.prefect_server import running_server

            say("served: starting a Prefect server")
            with running_server(root / "prefect", settings=PRODUCTION_LOOPS) as api:
                say(f"served: full sync {args.projects} × {args.issues} as a flow")
                folder = workspace(root, "served", site, small, cap)
                runs["served"] = sync(site, folder, cli_env(site, api), args.projects, timeout)

    say("rendering the demo's reports")
    rendered: dict[str, Any] = {"error": "not measured"}
    chat: dict[str, Any] = {p: {"error": "not measured"} for p in PLATFORMS}
    try:
        with demo_today(root) as demo:
            rendered = render_rate(demo, args.render_seconds)
            say(f"chat deliveries: {args.chat_groups} groups per platform")
            chat = chat_rates(demo, args.chat_groups, args.chat_paced)
    except Exception as err:  # the sync figures above still stand: show them, and why not these
        traceback.print_exc()
        problem = f"failed: {type(err).__name__}: {err}".splitlines()[0][:300]
        rendered = rendered if "per_second" in rendered else {"error": problem}
        chat = {p: c if "per_second" in c else {"error": problem} for p, c in chat.items()}
    return {"runs": runs, "render": rendered, "chat": chat}


def rows_of(args: argparse.Namespace, measured: dict[str, Any]) -> list[Row]:
    """The table: each figure, the issue's target beside it, and whether it is met."""
    runs, cap, latency = measured["runs"], args.in_flight, args.latency
    rows: list[Row] = []

    fixed_runs: list[Child] = runs["fixed"]
    fixed_ok = all(r.ok for r in fixed_runs)
    fixed = statistics.median(r.seconds for r in fixed_runs)
    rows.append(
        Row(
            "fixed_cost",
            "fixed cost: `stagecast sync`, one empty project",
            fixed if fixed_ok else None,
            "s",
            f"≤ {FIXED_COST_S:g} s",
            fixed <= FIXED_COST_S if fixed_ok else False,
            f"runs {', '.join(f'{r.seconds:.2f}' for r in fixed_runs)} s (median); "
            f"{fixed_runs[0].requests} requests",
            limit=FIXED_COST_S,
        )
    )

    full: Child = runs["full"]
    pages = pages_of(args.projects, args.issues)
    bound = sync_bound(args.projects, args.issues, cap, latency)
    size = f"{args.projects} × {args.issues}"
    rows.append(
        Row(
            "full_sync_seconds",
            f"full sync {size}: wall",
            full.seconds if full.ok else None,
            "s",
            detail=f"{full.requests} requests, {pages} pages, bound {bound:.2f} s, "
            f"peak in flight {full.peak_in_flight} (max_concurrency {cap}); the Jira stand-in "
            f"used {full.jira_cpu_seconds:.1f} CPU-s of the machine meanwhile",
        )
    )
    ratio = (full.seconds - fixed) / bound
    rows.append(
        Row(
            "full_sync_vs_bound",
            f"full sync {size}: (wall − fixed) / bound",
            ratio if full.ok else None,
            "",
            f"≤ {FULL_VS_BOUND:g}",
            full.ok and ratio <= FULL_VS_BOUND,
            f"bound = {pages} pages / {cap} in flight × {latency * 1000:g} ms",
            limit=FULL_VS_BOUND,
        )
    )
    per_page = full.requests / pages
    rows.append(
        Row(
            "full_sync_requests_per_page",
            f"full sync {size}: requests / pages",
            per_page if full.ok else None,
            "",
            f"≤ {REQUESTS_PER_PAGE:g}",
            full.ok and per_page <= REQUESTS_PER_PAGE,
            _paths(full.by_path),
            limit=REQUESTS_PER_PAGE,
        )
    )

    again: Child = runs["unchanged"]
    allowed = args.projects + 2 * HOSTS
    again_bound = allowed / cap * latency
    rows.append(
        Row(
            "unchanged_requests",
            f"unchanged re-sync {size}: requests",
            again.requests if again.ok else None,
            "requests",
            f"≤ {allowed} (1 per project + 2 per host)",
            again.ok and again.requests <= allowed,
            _paths(again.by_path),
            limit=allowed,
        )
    )
    again_ratio = (again.seconds - fixed) / again_bound
    rows.append(
        Row(
            "unchanged_vs_bound",
            f"unchanged re-sync {size}: (wall − fixed) / bound",
            again_ratio if again.ok else None,
            "",
            f"≤ {RESYNC_VS_BOUND:g}",
            again.ok and again_ratio <= RESYNC_VS_BOUND,
            f"wall {again.seconds:.2f} s; bound {again_bound:.2f} s = {allowed} requests / "
            f"{cap} in flight × {latency * 1000:g} ms",
            limit=RESYNC_VS_BOUND,
        )
    )

    plain: Child = runs["naive"]
    times = plain.seconds / full.seconds
    rows.append(
        Row(
            "naive_ratio",
            f"naive `jira` script / stagecast, {size}",
            times if plain.ok and full.ok else None,
            "×",
            f"≥ {NAIVE_RATIO:g} ×",
            plain.ok and full.ok and times >= NAIVE_RATIO,
            f"naive {plain.seconds:.2f} s, {plain.requests} requests, "
            f"peak RSS {plain.max_rss_mb:.0f} MB; stagecast {full.seconds:.2f} s",
            limit=NAIVE_RATIO,
        )
    )

    rows.append(
        Row(
            "rss_mb",
            f"peak RSS, one-shot sync {size}",
            full.max_rss_mb if full.ok else None,
            "MB",
            f"≤ {RSS_MB:g} MB",
            full.ok and full.max_rss_mb <= RSS_MB,
            "the command's own process (ru_maxrss)",
            limit=RSS_MB,
        )
    )
    if "big" in runs:
        large: Child = runs["big"]
        limit = BIG_RSS_FACTOR * full.max_rss_mb
        big_pages = pages_of(args.big_projects, args.big_issues)
        big_bound = sync_bound(args.big_projects, args.big_issues, cap, latency)
        rows.append(
            Row(
                "big_rss_mb",
                f"peak RSS, one-shot sync {args.big_projects} × {args.big_issues}",
                large.max_rss_mb if large.ok else None,
                "MB",
                f"≤ {BIG_RSS_FACTOR:g} × {size}'s = {limit:.0f} MB",
                large.ok and full.ok and large.max_rss_mb <= limit,
                f"wall {large.seconds:.2f} s, {large.requests} requests for {big_pages} pages, "
                f"bound {big_bound:.2f} s; the stand-in used {large.jira_cpu_seconds:.1f} CPU-s",
                limit=limit,
            )
        )
    if "served" in runs:
        served: Child = runs["served"]
        share = (served.seconds - full.seconds) / args.projects
        rows.append(
            Row(
                "served_rss_mb",
                f"peak RSS, served sync {size} (a flow, real server)",
                served.max_rss_mb if served.ok else None,
                "MB",
                detail=f"wall {served.seconds:.2f} s ({share * 1000:+.0f} ms per project "
                f"against the one-shot command), {served.requests} requests",
            )
        )

    rendered = measured["render"]
    rows.append(
        Row(
            "renders_per_second",
            "reports rendered per second (md + text + HTML)",
            rendered.get("per_second"),
            "/s",
            detail=rendered.get("error")
            or f"the demo's {' and '.join(rendered['kinds'])}, zh-CN and en, client and "
            f"internal: {rendered['reports']} in {rendered['seconds']:.2f} s",
        )
    )
    for platform, chat in measured["chat"].items():
        if "error" in chat or "one_webhook" not in chat:
            label, why = f"chat deliveries per second: {platform}", chat.get("error")
            why = why or "the paced run failed (its traceback is on stderr)"
            rows.append(Row(f"chat_{platform}_per_second", label, None, "/s", detail=why))
            continue
        one = chat["one_webhook"]
        sent = chat["sent"] == chat["deliveries"] and one["sent"] == one["deliveries"]
        rows.append(
            Row(
                f"chat_{platform}_per_second",
                f"chat deliveries per second: {platform}",
                chat["per_second"] if sent else None,
                "/s",
                detail=f"{chat['deliveries']} groups, {chat['posts']} posts in "
                f"{chat['seconds']:.2f} s; one webhook ({one['pace']}): {one['deliveries']} "
                f"in {one['seconds']:.2f} s, the pace's floor {one['pace_floor_seconds']:g} s",
            )
        )
    return rows


def _paths(by_path: dict[str, int]) -> str:
    """`12 serverInfo, 12 field, 300 search/jql`."""
    return ", ".join(
        f"{n} {what.split(' ', 1)[1].removeprefix('/rest/api/').split('/', 1)[-1]}"
        for what, n in sorted(by_path.items(), key=lambda item: -item[1])
    )


def table(rows: list[Row], header: str) -> str:
    """The rows as an aligned text table."""
    met = {True: "yes", False: "NO", None: ""}
    cells = [("measure", "figure", "target", "met", "detail")]
    cells += [(r.measure, r.figure(), r.target, met[r.met], r.detail) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(4)]
    lines = [header]
    for n, c in enumerate(cells):
        lines.append("  ".join(c[i].ljust(widths[i]) for i in range(4)) + "  " + c[4])
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    return "\n".join(lines)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: well under a minute")
    parser.add_argument("--projects", type=int, help="projects of the main sync (default 60)")
    parser.add_argument("--issues", type=int, help="issues per project (default 500)")
    parser.add_argument("--big-projects", type=int, help="the big sync (default 200; 0: none)")
    parser.add_argument("--big-issues", type=int, help="issues per big project (default 1000)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per Jira request")
    parser.add_argument(
        "--in-flight", type=int, default=8, help="max_concurrency, and the Jira's own cap"
    )
    parser.add_argument("--fixed-runs", type=int, help="fixed-cost runs (median; default 3)")
    parser.add_argument("--render-seconds", type=float, help="rendering time (default 2)")
    parser.add_argument("--chat-groups", type=int, help="webhooks per platform (default 10)")
    parser.add_argument(
        "--chat-paced",
        type=int,
        help="deliveries to one webhook (default: one more than its window, so WeCom and "
        "DingTalk take 60 s; --quick: 2)",
    )
    parser.add_argument(
        "--served",
        action=argparse.BooleanOptionalAction,
        help="also the served path: a Prefect server started for it (default: on, off with "
        "--quick)",
    )
    parser.add_argument("--child-timeout", type=float, default=1800.0, help="seconds per child")
    parser.add_argument("--json", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    defaults: dict[str, Any] = (
        {"projects": 4, "issues": 250, "big_projects": 8, "big_issues": 300}
        if args.quick
        else {"projects": 60, "issues": 500, "big_projects": 200, "big_issues": 1000}
    )
    defaults |= (
        {"fixed_runs": 1, "render_seconds": 0.3, "chat_groups": 2, "chat_paced": 2, "served": False}
        if args.quick
        else {"fixed_runs": 3, "render_seconds": 2.0, "chat_groups": 10, "served": True}
    )
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.projects < 1 or args.in_flight < 1 or args.fixed_runs < 1 or args.chat_groups < 1:
        parser.error("--projects, --in-flight, --fixed-runs and --chat-groups must be ≥ 1")
    return args


def main(argv: list[str]) -> int:
    if argv[:1] == ["naive"]:
        naive_script(argv[1], argv[2], argv[3:])
        return 0
    args = parse(argv)

    def say(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="stagecast-bench-") as tmp:
        measured = measure(args, Path(tmp), say)
    rows = rows_of(args, measured)
    settings = {
        "projects": args.projects,
        "issues": args.issues,
        "big_projects": args.big_projects,
        "big_issues": args.big_issues,
        "latency_s": args.latency,
        "in_flight": args.in_flight,
        "page": PAGE,
        "quick": args.quick,
        "served": args.served,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    runs = {
        name: [asdict(r) for r in run] if isinstance(run, list) else asdict(run)
        for name, run in measured["runs"].items()
    }
    document = {
        "settings": settings,
        "rows": {r.key: asdict(r) for r in rows},
        "runs": runs,
        "render": measured["render"],
        "chat": measured["chat"],
        "seconds": time.perf_counter() - started,
    }
    header = (
        f"stagecast benchmark: {args.projects} × {args.issues} and {args.big_projects} × "
        f"{args.big_issues} on a local Jira in its own process, pages of {PAGE}, "
        f"{args.latency * 1000:g} ms a request, {args.in_flight} in flight "
        f"(targets are the issue's, for 60 × 500, 100 ms, 8 in flight)"
    )
    print(table(rows, header))
    for name, run in measured["runs"].items():
        for r in run if isinstance(run, list) else [run]:
            if r.problem:
                print(f"\n{name}: {r.problem}", file=sys.stderr)
    text = json.dumps(document, ensure_ascii=False, indent=2)
    print()
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0 if all(r.value is not None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
