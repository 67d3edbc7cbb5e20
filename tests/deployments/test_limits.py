"""Limits across processes: ten projects on one Jira with `max_concurrency: 3`, synced by two
serving processes at once, never have more than 3 requests in flight at the server, and no
project is synced twice at once."""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
from collections import defaultdict
from dataclasses import dataclass

import pytest

from tests.connectors.fake_jira import FakeJira, issue
from tests.deployments.conftest import serving, start, unique, wait_final

PROJECTS = 10


@dataclass(frozen=True)
class Visit:
    """One search request as the site saw it: when, for which JQL, which page."""

    start: float
    end: float
    jql: str
    token: str | None
    last: bool


class TimedJira(FakeJira):
    """The local Jira, also noting when each search began and ended."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.visits: list[Visit] = []
        self._visit_lock = threading.Lock()

    def _search_jql(self, path, api, params):  # type: ignore[no-untyped-def]
        # The handler has slept the latency since the request arrived; the answer leaves now.
        arrived = time.monotonic() - self.latency
        answer = super()._search_jql(path, api, params)
        with self._visit_lock:
            last = bool(answer[1].get("isLast")) if isinstance(answer, tuple) else False
            jql, token = str(params.get("jql")), params.get("nextPageToken")
            self.visits.append(Visit(arrived, time.monotonic(), jql, token, last))
        return answer


CONFIG_HEAD = "timezone: Asia/Shanghai\nprojects:\n"
PROJECT = """  - key: {key}
    name: {key}
    sources:
      - {{type: jira, url: "{url}", email: pm@acme.example, token: "env:LIMITS_JIRA_TOKEN",
          jql: "project = P{n}", max_concurrency: 3, timeout_seconds: 30}}
"""


@pytest.fixture
def jira():
    with TimedJira(latency=0.05, page_cap=1) as site:
        for n in range(PROJECTS):
            site.add(*(issue(f"P{n}-{i}", f"任务 {i}") for i in range(1, 4)))
        os.environ["LIMITS_JIRA_TOKEN"] = site.token or ""
        yield site


def test_two_serving_processes_keep_the_host_limit_and_never_overlap_a_project(
    tmp_path, jira, prefect_server, capsys
):
    prefix = unique("lim")
    cfg = tmp_path / "stagecast.yaml"
    cfg.write_text(
        CONFIG_HEAD
        + "".join(PROJECT.format(key=f"{prefix}-{n}", url=jira.url, n=n) for n in range(PROJECTS)),
        encoding="utf-8",
    )
    one, two = unique("one"), unique("two")
    with (
        serving(cfg, one, prefect_server, tmp_path / "one.log"),
        serving(cfg, two, prefect_server, tmp_path / "two.log"),
    ):
        runs = [start(f"sync/{one}"), start(f"sync/{two}")]  # each syncs all ten projects
        finals = [wait_final(r.id, timeout=300) for r in runs]
    assert [f.state.type.value for f in finals] == ["COMPLETED", "COMPLETED"], [
        f.state.message for f in finals
    ]
    assert 1 < jira.peak <= 3, jira.peak
    by_project: dict[str, list[Visit]] = defaultdict(list)
    for visit in jira.visits:
        by_project[re.search(r"project = (P\d+)", visit.jql)[1]].append(visit)  # type: ignore[index]
    assert len(by_project) == PROJECTS
    for project, visits in by_project.items():
        visits.sort(key=lambda v: v.start)
        # Each sync's pull: a first page (no token), then pages until the last one.
        starts = [i for i, v in enumerate(visits) if v.token is None]
        assert len(starts) == 2, (project, visits)  # one pull per run, two runs
        for begin, end in zip(starts, [*starts[1:], len(visits)], strict=True):
            pull = visits[begin:end]
            assert pull[-1].last and not any(v.last for v in pull[:-1]), (project, visits)
        for earlier, later in itertools.pairwise(visits):
            assert later.start >= earlier.end, f"{project}: two syncs overlapped"
    with capsys.disabled():
        took = [(f.end_time - f.start_time).total_seconds() for f in finals]
        print(f"\ntwo syncs of {PROJECTS} projects, peak {jira.peak} in flight, took {took} s")
