"""The Jira source, through the real `jira` library, against a local Jira (fake_jira.py).

Nothing of our own is mocked: the only things injected are the sleep (so waits are recorded,
not slept), the clock (so cursors are predictable), a fresh cache of site facts per test (so
one test's site cannot lend another what it learnt; within a test, every source shares it, as
every source of a process does) and, for the concurrency test, a fresh set of host limits (so
other tests' hosts cannot share a semaphore with it).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connectors.http import HostLimits, RetryPolicy
from connectors.sources.base import PullRequest, SourceError, build_source
from connectors.sources.jira import (
    BASE_FIELDS,
    OVERLAP,
    FieldIds,
    JiraSource,
    incremental_jql,
    normalise_issues,
    split_order_by,
)
from connectors.sources.jira_site import SiteCache
from stagecast.config import JiraSourceConfig
from stagecast.models import SourcePull, Task
from tests.connectors.fake_jira import (
    EPIC_LINK_ID,
    FLAGGED_ID,
    SPRINT_ID,
    FakeJira,
    adf,
    contract_case,
    issue,
    parent_of,
    sprint,
    version,
)

TOKEN_VAR = "STAGECAST_TEST_JIRA_TOKEN"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class Naps:
    """The injected sleep: records each wait instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def naps() -> Naps:
    return Naps()


@pytest.fixture
def cloud() -> Iterator[FakeJira]:
    with FakeJira() as site:
        yield site


@pytest.fixture
def server() -> Iterator[FakeJira]:
    """A Data Center site: a personal access token, no email."""
    with FakeJira(deployment="Server", email=None, token="dc-pat-1234567890") as site:
        yield site


@pytest.fixture
def sites() -> SiteCache:
    return SiteCache()


@pytest.fixture
def make(monkeypatch: pytest.MonkeyPatch, naps: Naps, sites: SiteCache) -> Any:
    """Build a JiraSource for a site from a config validated like stagecast.yaml's."""

    def build(site: FakeJira, clock: Any = None, **overrides: Any) -> JiraSource:
        monkeypatch.setenv(TOKEN_VAR, site.token or "")
        entry: dict[str, Any] = {
            "type": "jira",
            "url": site.url,
            "token": f"env:{TOKEN_VAR}",
            "jql": "project = PORTAL",
            "timeout_seconds": 5,
        }
        if site.email:
            entry["email"] = site.email
        options = {"sites": sites}
        options.update(
            {
                k: overrides.pop(k)
                for k in ("policy", "limits", "page_size", "sites")
                if k in overrides
            }
        )
        entry.update(overrides)
        cfg = JiraSourceConfig.model_validate(entry)
        return JiraSource(cfg, sleep=naps, clock=clock or (lambda: T0), **options)

    return build


def keys(pull: SourcePull) -> list[str]:
    return [task.key for task in pull.tasks]


def by_key(pull: SourcePull) -> dict[str, Task]:
    return {task.key: task for task in pull.tasks}


def many(project: str, count: int, **fields: Any) -> list[dict[str, Any]]:
    return [issue(f"{project}-{n}", f"任务 {n} ✨", **fields) for n in range(1, count + 1)]


# --- paging and deployment types ----------------------------------------------------------


def test_cloud_follows_next_page_tokens_over_short_pages(cloud: FakeJira, make: Any) -> None:
    cloud.page_cap = 37  # asks for 50, gets 37: pages carry no total, only a token
    cloud.add(*many("PORTAL", 230))
    pull = make(cloud, page_size=50).pull()
    assert keys(pull) == [f"PORTAL-{n}" for n in range(1, 231)]
    searches = cloud.searches
    assert len(searches) == 7  # ceil(230 / 37)
    assert {s.path for s in searches} == {"/rest/api/3/search/jql"}
    assert [s.token is None for s in searches] == [True] + [False] * 6
    assert {s.max_results for s in searches} == {50}
    assert cloud.requests_to("/rest/api/2/search") == 0
    assert pull.complete is True and pull.cursor == T0.isoformat()


def test_cloud_asks_only_for_the_fields_the_pipeline_reads(cloud: FakeJira, make: Any) -> None:
    cloud.add(issue("PORTAL-1"))
    make(cloud).pull()
    (search,) = cloud.searches
    assert search.fields == [*BASE_FIELDS, FLAGGED_ID]
    assert SPRINT_ID not in search.fields and "description" not in search.fields


def test_data_center_pages_by_start_at_with_a_personal_access_token(
    server: FakeJira, make: Any
) -> None:
    server.page_cap = 37
    server.add(*many("PORTAL", 120))
    pull = make(server, page_size=50).pull()
    assert len(pull.tasks) == 120 and keys(pull)[-1] == "PORTAL-120"
    assert [s.start_at for s in server.searches] == [0, 37, 74, 111]
    assert {s.path for s in server.searches} == {"/rest/api/2/search"}
    assert server.requests_to("/rest/api/3/search/jql") == 0
    assert server.requests_to("/rest/api/2/field") == 1  # ours; the library never asks again


@pytest.mark.parametrize(
    ("deployment", "search_path"),
    [
        ("Cloud", "/rest/api/3/search/jql"),
        ("Server", "/rest/api/2/search"),
        ("DataCenter", "/rest/api/2/search"),
    ],
)
def test_the_deployment_type_decides_the_api_never_the_url(
    deployment: str, search_path: str, make: Any
) -> None:
    # A Cloud site behind an address that does not say atlassian.net, and the other way round.
    with FakeJira(deployment=deployment) as site:
        site.add(issue("PORTAL-1"))
        assert keys(make(site).pull()) == ["PORTAL-1"]
        assert site.requests_to("/rest/api/2/serverInfo") == 1
        assert [s.path for s in site.searches] == [search_path]


def test_a_410_from_a_removed_search_api_says_what_to_do(make: Any) -> None:
    # serverInfo says Server (a proxy rewriting it, say), but the site behaves like Cloud.
    with FakeJira(deployment="Server") as site:
        site.inject(410, path="/rest/api/2/search", body={"errorMessages": ["removed"]})
        with pytest.raises(SourceError) as caught:
            make(site).pull()
    message = str(caught.value)
    assert message.startswith("Jira answered 410 Gone for /rest/api/2/search: this is Jira Cloud")
    assert "/rest/api/3/search/jql" in message
    assert site.requests_to("/rest/api/2/search") == 1  # a 410 is not retried


# --- normalisation ------------------------------------------------------------------------


def test_states_dates_people_and_comments(cloud: FakeJira, make: Any) -> None:
    comment = adf(
        "旧的评论",
    )
    last = adf(
        {
            "type": "paragraph",
            "content": [
                {"type": "mention", "attrs": {"id": "a1", "text": "@李四"}},
                {"type": "text", "text": " 已修复 "},
                {"type": "emoji", "attrs": {"shortName": ":tada:", "text": "🎉"}},
            ],
        },
        {
            "type": "bulletList",
            "content": [
                {
                    "type": "listItem",
                    "content": [
                        {"type": "paragraph", "content": [{"type": "text", "text": "补丁 v2"}]}
                    ],
                },
            ],
        },
    )
    cloud.add(
        issue(
            "PORTAL-1",
            "登录页面 🚀",
            assignee="张三",
            due="2026-11-25",
            labels=["前端", "UAT"],
            priority="High",
            comments=[comment, last],
        ),
        issue("PORTAL-2", status="开发中", category="indeterminate"),
        issue(
            "PORTAL-3",
            status="Done",
            category="done",
            resolution="Done",
            resolutiondate="2026-11-18T16:30:00.000+0800",
            category_changed="2026-11-18T17:00:00.000+0800",
        ),
        issue(
            "PORTAL-4",
            status="Closed",
            category="done",
            category_changed="2026-11-19T08:00:00.000+0000",
        ),
    )
    tasks = by_key(make(cloud).pull())
    first = tasks["PORTAL-1"]
    assert (first.title, first.assignee, first.labels) == ("登录页面 🚀", "张三", ("前端", "UAT"))
    assert first.due == date(2026, 11, 25) and type(first.due) is date
    assert (first.state, first.status, first.type, first.priority) == (
        "todo",
        "To Do",
        "Task",
        "High",
    )
    assert first.url == f"{cloud.url}/browse/PORTAL-1"
    assert first.last_comment == "@李四 已修复 🎉\n- 补丁 v2"
    assert first.done_at is None and first.source == "jira"
    assert tasks["PORTAL-2"].state == "in_progress"
    done = tasks["PORTAL-3"]
    assert (done.state, done.resolution) == ("done", "Done")
    assert done.done_at == datetime(2026, 11, 18, 8, 30, tzinfo=UTC)
    assert tasks["PORTAL-4"].done_at == datetime(2026, 11, 19, 8, 0, tzinfo=UTC)


def test_timestamps_in_utc_and_plus_eight_around_midnight(cloud: FakeJira, make: Any) -> None:
    cloud.add(
        issue(
            "PORTAL-1",
            created="2026-11-20T23:30:00.000+0000",
            updated="2026-11-21T07:30:00.000+0800",
        ),
        issue(
            "PORTAL-2", created="2026-11-21T00:15:00.000+0800", updated="2026-11-20T16:15:00.000Z"
        ),
    )
    tasks = by_key(make(cloud).pull())
    shanghai = ZoneInfo("Asia/Shanghai")
    one, two = tasks["PORTAL-1"], tasks["PORTAL-2"]
    assert one.created == datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    assert one.created.astimezone(shanghai).date() == date(2026, 11, 21)
    assert one.updated == one.created  # the same moment, written in two offsets
    assert two.created == datetime(2026, 11, 20, 16, 15, tzinfo=UTC) == two.updated
    assert two.created.astimezone(shanghai).date() == date(2026, 11, 21)
    assert all(t.created.tzinfo is not None for t in tasks.values())


def test_data_center_comments_are_plain_text(server: FakeJira, make: Any) -> None:
    server.add(issue("PORTAL-1", comments=["第一条", "最后一条：已上线 ✅"]))
    (task,) = make(server).pull().tasks
    assert task.last_comment == "最后一条：已上线 ✅"


def test_flagged_field_is_found_by_name_and_means_blocked(cloud: FakeJira, make: Any) -> None:
    # Another site, another id: the Flagged field is discovered, not assumed.
    for found in cloud.fields:
        if found["id"] == FLAGGED_ID:
            found["id"] = found["key"] = "customfield_12345"
    flagged = issue("PORTAL-1", "flagged")
    flagged["fields"]["customfield_12345"] = [{"value": "Impediment", "id": "10019"}]
    cloud.add(
        flagged,
        issue("PORTAL-2", status="Blocked", category="indeterminate"),
        issue("PORTAL-3", labels=["blocker"]),
        issue("PORTAL-4", status="阻塞", category="indeterminate"),
        issue("PORTAL-5", labels=["unblocked"], status="Unblocked"),
        issue("PORTAL-6", flagged=True),  # the usual id is not this site's Flagged field
    )
    pull = make(cloud).pull()
    assert [t.key for t in pull.tasks if t.blocked] == [
        "PORTAL-1",
        "PORTAL-2",
        "PORTAL-3",
        "PORTAL-4",
    ]
    assert "customfield_12345" in cloud.searches[0].fields


def test_epics_and_sub_tasks_are_not_tasks(cloud: FakeJira, make: Any) -> None:
    epic = issue("PORTAL-1", "一期", type="Epic")
    cloud.add(
        epic,
        issue("PORTAL-2", type="史诗", hierarchy=1),  # a renamed epic type: its level says it
        issue("PORTAL-3", type="Story", parent=parent_of(epic)),
        issue("PORTAL-4", type="Sub-task", subtask=True),
        issue("PORTAL-5", type="子任务", subtask=True),
    )
    assert keys(make(cloud).pull()) == ["PORTAL-3"]


# --- stage values -------------------------------------------------------------------------


def test_fix_versions_in_order_with_release_dates_as_stage_dues(cloud: FakeJira, make: Any) -> None:
    req, build = version("v1.0-req", "2026-12-01"), version("v1.1-构建")
    cloud.add(
        issue("PORTAL-1", fix_versions=[req, build]),
        issue("PORTAL-2", fix_versions=[build]),
        issue("PORTAL-3"),
    )
    pull = make(cloud).pull()
    assert [t.stage_values for t in pull.tasks] == [("v1.0-req", "v1.1-构建"), ("v1.1-构建",), ()]
    assert pull.stage_dues == {"v1.0-req": date(2026, 12, 1)}


def test_a_bad_release_date_is_a_warning_not_a_lost_task(cloud: FakeJira, make: Any) -> None:
    cloud.add(issue("PORTAL-1", fix_versions=[version("v2", "someday")]))
    pull = make(cloud).pull()
    assert keys(pull) == ["PORTAL-1"] and pull.stage_dues == {}
    assert pull.warnings == (
        "PORTAL-1: version 'v2' has an unparseable releaseDate 'someday'; its due date is ignored",
    )


def test_sprint_stage_is_the_active_sprint_else_the_latest(cloud: FakeJira, make: Any) -> None:
    s1 = sprint(1, "Sprint 1", "closed", "2026-10-05T01:00:00.000Z", "2026-10-19T01:00:00.000Z")
    s2 = sprint(
        2, "Sprint 2 冲刺", "active", "2026-11-02T01:00:00.000Z", "2026-11-16T01:00:00.000Z"
    )
    s3 = sprint(3, "Sprint 3", "future")
    s0 = sprint(9, "Hardening", "closed", "2026-10-20T01:00:00.000Z", "2026-11-01T01:00:00.000Z")
    cloud.add(
        issue("PORTAL-1", sprints=[s1, s2, s3]),
        issue("PORTAL-2", sprints=[s0, s1]),  # listed out of order: the latest by end date
        issue("PORTAL-3"),
    )
    pull = make(cloud, stage_field="sprint").pull()
    assert [t.stage_values for t in pull.tasks] == [("Sprint 2 冲刺",), ("Hardening",), ()]
    assert SPRINT_ID in cloud.searches[0].fields


def test_old_data_center_sprint_strings_are_read(server: FakeJira, make: Any) -> None:
    old = (
        "com.atlassian.greenhopper.service.sprint.Sprint@1a2b[id=7,rapidViewId=1,state=CLOSED,"
        "name=Sprint 7, final,startDate=2026-10-01T09:00:00.000+08:00,"
        "endDate=2026-10-14T18:00:00.000+08:00,completeDate=<null>,sequence=7,goal=]"
    )
    active = old.replace("id=7", "id=8").replace("CLOSED", "ACTIVE").replace("Sprint 7", "Sprint 8")
    one = issue("PORTAL-1")
    one["fields"][SPRINT_ID] = [old, active]
    two = issue("PORTAL-2")
    two["fields"][SPRINT_ID] = [old]
    server.add(one, two)
    pull = make(server, stage_field="sprint").pull()
    assert [t.stage_values for t in pull.tasks] == [("Sprint 8, final",), ("Sprint 7, final",)]


def test_epic_stage_is_the_parent_epics_summary(cloud: FakeJira, make: Any) -> None:
    epic = issue("PORTAL-1", "需求确认", type="Epic")
    story = issue("PORTAL-2", "a story", type="Story")
    cloud.add(
        epic,
        story,
        issue("PORTAL-3", parent=parent_of(epic)),
        issue("PORTAL-4"),
        issue("PORTAL-5", parent=parent_of(story)),  # a parent that is not an epic
    )
    pull = make(cloud, stage_field="epic").pull()
    assert [(t.key, t.stage_values) for t in pull.tasks] == [
        ("PORTAL-2", ()),
        ("PORTAL-3", ("需求确认",)),
        ("PORTAL-4", ()),
        ("PORTAL-5", ()),
    ]


def test_data_center_epic_link_gives_the_epics_key(server: FakeJira, make: Any) -> None:
    server.add(issue("PORTAL-2", epic_link="PORTAL-1"), issue("PORTAL-3"))
    pull = make(server, stage_field="epic").pull()
    assert [t.stage_values for t in pull.tasks] == [("PORTAL-1",), ()]
    assert EPIC_LINK_ID in server.searches[0].fields


def test_label_stage_values_are_the_labels_in_order(cloud: FakeJira, make: Any) -> None:
    cloud.add(issue("PORTAL-1", labels=["设计", "UAT"]), issue("PORTAL-2"))
    pull = make(cloud, stage_field="label").pull()
    assert [t.stage_values for t in pull.tasks] == [("设计", "UAT"), ()]


# --- malformed issues ---------------------------------------------------------------------


def test_malformed_issues_are_skipped_with_a_warning_naming_them(
    cloud: FakeJira, make: Any, caplog: pytest.LogCaptureFixture
) -> None:
    no_key = issue("PORTAL-3")
    del no_key["key"]
    cloud.add(
        issue("PORTAL-1"),
        issue("PORTAL-12", due="2026-13-45"),
        no_key,
        issue("PORTAL-4", created="yesterday"),
        issue("PORTAL-5", "最后一个 🙂"),
    )
    with caplog.at_level(logging.WARNING, logger="connectors.sources.jira"):
        pull = make(cloud).pull()
    assert keys(pull) == ["PORTAL-1", "PORTAL-5"]
    assert pull.warnings == (
        "PORTAL-12: unparseable duedate '2026-13-45'; skipped",
        f"issue id {no_key['id']}: missing key; skipped",
        "PORTAL-4: unparseable created 'yesterday'; skipped",
    )
    assert [r.getMessage() for r in caplog.records] == list(pull.warnings)


# --- being gentle: retries, timeouts, auth ------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_wait_for_retry_after_then_succeed(
    status: int, cloud: FakeJira, make: Any, naps: Naps
) -> None:
    cloud.add(issue("PORTAL-1"))
    cloud.inject(status, path="/rest/api/3/search/jql", headers={"Retry-After": "7"})
    pull = make(cloud).pull()
    assert keys(pull) == ["PORTAL-1"]
    assert naps.waits == [7.0]
    assert cloud.requests_to("/rest/api/3/search/jql") == 2


def test_a_retry_after_beyond_the_bound_gives_up_without_waiting(
    cloud: FakeJira, make: Any, naps: Naps
) -> None:
    cloud.inject(429, path="/rest/api/3/search/jql", headers={"Retry-After": "3600"})
    with pytest.raises(SourceError, match=r"HTTP 429 for .*, asked to wait 3600s"):
        make(cloud).pull()
    assert naps.waits == []


def test_a_5xx_storm_ends_in_source_error_after_bounded_tries(
    cloud: FakeJira, make: Any, naps: Naps
) -> None:
    cloud.add(issue("PORTAL-1"))
    cloud.inject(500, path="/rest/api/3/search/jql", times=100)
    policy = RetryPolicy(tries=4, base_delay=0.5, max_delay=30.0)
    with pytest.raises(SourceError) as caught:
        make(cloud, policy=policy).pull()
    assert str(caught.value) == (
        "Jira 127.0.0.1: HTTP 500 for /rest/api/3/search/jql after 4 tries"
    )
    assert cloud.requests_to("/rest/api/3/search/jql") == 4
    assert len(naps.waits) == 3  # jittered backoff between tries, none after the last
    assert all(0 <= wait <= 0.5 * 2**n for n, wait in enumerate(naps.waits))


def test_a_server_error_then_success(cloud: FakeJira, make: Any, naps: Naps) -> None:
    cloud.add(issue("PORTAL-1"))
    cloud.inject(502, path="/rest/api/2/serverInfo")
    cloud.inject(504, path="/rest/api/3/field")
    assert keys(make(cloud).pull()) == ["PORTAL-1"]
    assert len(naps.waits) == 2


def test_timeouts_end_in_source_error(cloud: FakeJira, make: Any, naps: Naps) -> None:
    cloud.inject(None, path="/rest/api/3/search/jql", delay=0.5, times=100)
    source = make(cloud, timeout_seconds=0.15, policy=RetryPolicy(tries=3, timeout=0.15))
    with pytest.raises(SourceError, match=r"timed out for /rest/api/3/search/jql after 3 tries"):
        source.pull()
    assert len(naps.waits) == 2


def test_a_slow_answer_once_is_retried(cloud: FakeJira, make: Any, naps: Naps) -> None:
    cloud.add(issue("PORTAL-1"))
    cloud.inject(None, path="/rest/api/3/search/jql", delay=0.5)
    assert keys(make(cloud, timeout_seconds=0.15).pull()) == ["PORTAL-1"]
    assert len(naps.waits) == 1


def test_bad_cloud_credentials_name_the_email_and_token_to_check(
    cloud: FakeJira, make: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    source = make(cloud)
    monkeypatch.setenv(TOKEN_VAR, "wrong-token-SECRET-value")
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceError) as caught:
        source.pull()
    message = str(caught.value)
    assert "HTTP 401" in message
    assert "pm@acme.example" in message and f"env:{TOKEN_VAR}" in message
    assert "SECRET" not in message and "Basic " not in message
    assert "SECRET" not in caplog.text and "Authorization" not in caplog.text
    assert cloud.total_requests == 1  # a 401 is not retried


def test_bad_data_center_token_names_the_personal_access_token(
    server: FakeJira, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make(server)
    monkeypatch.setenv(TOKEN_VAR, "wrong-pat-SECRET")
    with pytest.raises(SourceError, match=f"personal access token in env:{TOKEN_VAR}") as caught:
        source.pull()
    assert "SECRET" not in str(caught.value)


def test_a_missing_token_variable_is_a_source_error(
    cloud: FakeJira, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = make(cloud)
    monkeypatch.delenv(TOKEN_VAR)
    with pytest.raises(SourceError, match=f"{TOKEN_VAR} is not set"):
        source.pull()
    assert cloud.total_requests == 0


def test_a_refused_jql_is_reported_with_jiras_words(cloud: FakeJira, make: Any) -> None:
    with pytest.raises(SourceError, match=r"rejected the search \(HTTP 400: Error in the JQL"):
        make(cloud, jql="assignee was currentUser()").pull()


def test_an_unreachable_host_is_a_source_error(make: Any, naps: Naps) -> None:
    with FakeJira() as site:
        source = make(site, policy=RetryPolicy(tries=2))
    # the site is closed now: nothing listens on its port
    with pytest.raises(SourceError, match=r"connection failed .* after 2 tries"):
        source.pull()


# --- incremental sync ---------------------------------------------------------------------


def test_a_second_pull_fetches_only_what_changed(cloud: FakeJira, make: Any) -> None:
    cloud.add(*many("PORTAL", 5, updated="2026-11-10T09:00:00.000+0800"))
    first = make(cloud, clock=lambda: T0).pull(PullRequest(as_of=T0))
    assert first.complete and len(first.tasks) == 5
    before = cloud.total_requests

    changed = cloud.issues[2]["fields"]
    changed["status"] = issue("X-1", status="Done", category="done")["fields"]["status"]
    changed["updated"] = changed["resolutiondate"] = "2026-11-20T18:20:00.000+0800"
    later = T0 + timedelta(hours=1)
    request = PullRequest(as_of=later, cursor=first.cursor, last_full=T0)
    second = make(cloud, clock=lambda: later).pull(request)

    assert second.complete is False
    assert keys(second) == ["PORTAL-3"] and second.tasks[0].state == "done"
    assert cloud.total_requests - before == 1  # ONE search: serverInfo and fields are known
    (search,) = cloud.searches[1:]
    since = (T0 - OVERLAP).strftime("%Y-%m-%d %H:%M")
    assert search.jql == f'(project = PORTAL) AND updated >= "{since}"'
    assert second.cursor == later.isoformat()


def test_the_overlap_covers_a_user_twelve_hours_west_of_utc(make: Any) -> None:
    # JQL dates are read in the Jira user's timezone; ours are written in UTC.
    with FakeJira(user_tz=ZoneInfo("Etc/GMT+12")) as site:  # UTC−12
        site.add(issue("PORTAL-1", updated="2026-11-20T10:01:00.000+0000"))  # just after T0
        request = PullRequest(as_of=T0 + timedelta(hours=1), cursor=T0.isoformat(), last_full=T0)
        assert keys(make(site).pull(request)) == ["PORTAL-1"]


def test_issues_that_became_sub_tasks_are_removed_incrementally(cloud: FakeJira, make: Any) -> None:
    cloud.add(
        issue("PORTAL-1", updated="2026-11-20T11:00:00.000+0000", type="Sub-task", subtask=True)
    )
    request = PullRequest(as_of=T0 + timedelta(hours=2), cursor=T0.isoformat(), last_full=T0)
    pull = make(cloud).pull(request)
    assert pull.tasks == () and pull.removed == (cloud.issues[0]["id"],)


def test_a_day_old_full_read_means_a_full_pull(cloud: FakeJira, make: Any) -> None:
    cloud.add(issue("PORTAL-1"))
    as_of = T0 + timedelta(days=1)
    pull = make(cloud).pull(PullRequest(as_of=as_of, cursor=T0.isoformat(), last_full=T0))
    assert pull.complete is True and cloud.searches[0].jql == "project = PORTAL"


def test_order_by_is_kept_at_the_end_of_an_incremental_query(cloud: FakeJira, make: Any) -> None:
    cloud.add(
        issue("PORTAL-1", updated="2026-11-20T11:00:00.000+0000"),
        issue("PORTAL-2", updated="2026-11-20T12:00:00.000+0000"),
    )
    request = PullRequest(as_of=T0 + timedelta(hours=3), cursor=T0.isoformat(), last_full=T0)
    pull = make(cloud, jql="project = PORTAL ORDER BY updated DESC").pull(request)
    assert keys(pull) == ["PORTAL-2", "PORTAL-1"]
    assert cloud.searches[0].jql.endswith('"2026-11-19 20:00" ORDER BY updated DESC')


def test_incremental_jql_text() -> None:
    since = datetime(2026, 11, 20, 8, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert incremental_jql("project = P order by key", since) == (
        '(project = P) AND updated >= "2026-11-20 00:05" order by key'
    )
    assert (
        incremental_jql("ORDER BY created", since)
        == 'updated >= "2026-11-20 00:05" ORDER BY created'
    )
    assert split_order_by('summary ~ "order by" AND project = P') == (
        'summary ~ "order by" AND project = P',
        "",
    )
    assert split_order_by("project = P OR labels = x ORDER BY rank") == (
        "project = P OR labels = x",
        "ORDER BY rank",
    )


# --- many projects on one host ------------------------------------------------------------


def test_ten_projects_on_one_host_never_exceed_its_concurrency(make: Any) -> None:
    with FakeJira(latency=0.03) as site:
        for n in range(10):
            site.add(*many(f"P{n}", 60))
        limits = HostLimits()  # fresh: no other test's host can share this semaphore
        sources = [
            make(site, jql=f"project = P{n}", max_concurrency=4, limits=limits, page_size=50)
            for n in range(10)
        ]
        results: dict[int, SourcePull] = {}
        errors: list[BaseException] = []

        def run(n: int) -> None:
            try:
                results[n] = sources[n].pull()
            except BaseException as err:  # surfaced below, not lost in the thread
                errors.append(err)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert all(keys(results[n])[0] == f"P{n}-1" and len(results[n].tasks) == 60 for n in range(10))
    # serverInfo and field once for the host (the other nine waited for them), two pages each
    assert site.requests_to("/rest/api/2/serverInfo") == site.requests_to("/rest/api/3/field") == 1
    assert site.total_requests == 2 + 10 * 2
    assert 1 < site.peak <= 4


# --- site facts: learnt once a day per site and account, shared by every project ----------


def pull_together(
    sources: list[JiraSource], request: PullRequest | None = None
) -> list[SourcePull | BaseException]:
    """Every source pulled at once in its own thread, as a sync pulls its projects."""
    results: list[SourcePull | BaseException] = [ValueError("not run")] * len(sources)
    start = threading.Barrier(len(sources))

    def run(n: int) -> None:
        start.wait()
        try:
            results[n] = sources[n].pull(request)
        except BaseException as err:  # surfaced to the test, not lost in the thread
            results[n] = err

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(sources))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_an_unchanged_resync_of_many_projects_is_one_request_each(make: Any) -> None:
    with FakeJira(latency=0.01) as site:
        for n in range(20):
            site.add(*many(f"P{n}", 250))  # three pages of 100
        limits = HostLimits()
        sources = [
            make(site, jql=f"project = P{n}", max_concurrency=4, limits=limits, page_size=100)
            for n in range(20)
        ]
        full = pull_together(sources)
        assert all(isinstance(p, SourcePull) and len(p.tasks) == 250 for p in full)
        # A full sync: the pages, plus serverInfo and field once for the host.
        assert site.requests_to("/rest/api/2/serverInfo") == 1
        assert site.requests_to("/rest/api/3/field") == 1
        assert site.total_requests == 20 * 3 + 2

        before = site.total_requests
        later = PullRequest(as_of=T0 + timedelta(hours=1), cursor=T0.isoformat(), last_full=T0)
        again = pull_together(sources, later)
        assert all(isinstance(p, SourcePull) and p.tasks == () for p in again)
        assert site.total_requests - before == 20  # one search each, nothing else


def test_a_new_process_reads_what_the_last_one_learnt(
    cloud: FakeJira, make: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cloud.add(issue("PORTAL-1", flagged=True))
    with caplog.at_level(logging.DEBUG):
        make(cloud, sites=SiteCache(tmp_path)).pull()
        assert cloud.total_requests == 3  # serverInfo, field, the search

        pull = make(cloud, sites=SiteCache(tmp_path)).pull()  # a new process, the same folder
    assert cloud.total_requests == 4 and by_key(pull)["PORTAL-1"].blocked

    (stored,) = tmp_path.iterdir()
    text = stored.read_text()
    assert json.loads(text) == {
        "format": 1,
        "site": cloud.url,
        "account": cloud.email,
        "token": f"env:{TOKEN_VAR}",  # where the token is, never the token
        "deployment": "Cloud",
        "flagged": FLAGGED_ID,
        "sprint": SPRINT_ID,
        "epic_link": EPIC_LINK_ID,
        "learnt": T0.isoformat(),
        "checked": False,
    }
    assert "127.0.0.1" not in stored.name
    assert cloud.token and cloud.token not in text and cloud.token not in caplog.text


def test_a_process_takes_what_a_later_one_learnt(
    cloud: FakeJira, make: Any, tmp_path: Path
) -> None:
    cloud.add(issue("PORTAL-1"))
    served, later = SiteCache(tmp_path), SiteCache(tmp_path)
    make(cloud, sites=served).pull()  # learnt at T0
    make(cloud, sites=later, clock=lambda: T0 + timedelta(hours=26)).pull()  # stale: learnt
    make(cloud, sites=served, clock=lambda: T0 + timedelta(hours=27)).pull()  # from disk
    assert cloud.requests_to("/rest/api/2/serverInfo") == 2
    assert len(cloud.searches) == 3


def test_site_facts_are_learnt_again_after_a_day(cloud: FakeJira, make: Any) -> None:
    cloud.add(issue("PORTAL-1"))
    for hours in (0, 23, 24, 25):
        make(cloud, clock=lambda h=hours: T0 + timedelta(hours=h)).pull()
    assert cloud.requests_to("/rest/api/2/serverInfo") == 2  # at T0 and a day later
    assert cloud.requests_to("/rest/api/3/field") == 2
    assert len(cloud.searches) == 4


def test_a_recreated_flagged_field_is_learnt_again_and_the_search_retried(
    cloud: FakeJira, make: Any
) -> None:
    cloud.add(issue("PORTAL-1"), issue("PORTAL-2"))
    assert not any(t.blocked for t in make(cloud).pull().tasks)
    # An admin deletes Flagged and makes it anew: a new id, and the old one is unknown.
    recreated = "customfield_10099"
    cloud.fields = [
        {**f, "id": recreated, "key": recreated} if f["id"] == FLAGGED_ID else f
        for f in cloud.fields
    ]
    cloud.issues[0]["fields"][recreated] = [{"value": "Impediment", "id": "10019"}]
    before = cloud.total_requests

    pull = make(cloud).pull()
    assert [t.key for t in pull.tasks if t.blocked] == ["PORTAL-1"]
    # the search, serverInfo and field learnt again, the search again
    assert cloud.total_requests - before == 4
    assert cloud.searches[-1].fields == [*BASE_FIELDS, recreated]

    make(cloud).pull()
    assert cloud.total_requests - before == 5  # then one request a pull again


def test_a_field_jira_leaves_out_costs_one_more_look_a_day_not_one_a_pull(
    cloud: FakeJira, make: Any
) -> None:
    # Flagged exists, but this project's issues come back without it (a field context).
    cloud.add(issue("PORTAL-1"))
    del cloud.issues[0]["fields"][FLAGGED_ID]
    for _ in range(4):
        assert keys(make(cloud).pull()) == ["PORTAL-1"]
    assert cloud.requests_to("/rest/api/3/field") == 2  # learnt, then checked once
    assert len(cloud.searches) == 5  # one retried after the check


def test_a_site_that_moved_to_cloud_is_learnt_again(make: Any) -> None:
    with FakeJira(deployment="Server") as site:
        site.add(issue("PORTAL-1"))
        assert keys(make(site).pull()) == ["PORTAL-1"]
        site.deployment = "Cloud"  # the same address, now a Cloud site: /search is gone
        assert keys(make(site).pull()) == ["PORTAL-1"]
    assert [s.path for s in site.searches] == ["/rest/api/2/search", "/rest/api/3/search/jql"]
    assert site.requests_to("/rest/api/2/search") == 2  # the second a 410: serverInfo again
    assert site.requests_to("/rest/api/2/serverInfo") == 2


def test_pulls_waiting_for_a_failing_host_fail_with_it(make: Any) -> None:
    with FakeJira() as site:
        # serverInfo fails slowly: four pulls wait for the one asking, and share its failure
        site.inject(500, path="/rest/api/2/serverInfo", delay=1.0, times=100)
        sources = [make(site, policy=RetryPolicy(tries=1)) for _ in range(5)]
        results = pull_together(sources)
    assert all(isinstance(r, SourceError) and "HTTP 500" in str(r) for r in results)
    assert site.total_requests == 1


def test_a_folder_that_cannot_be_written_only_costs_requests(
    cloud: FakeJira, make: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cloud.add(issue("PORTAL-1"))
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    with caplog.at_level(logging.WARNING):
        assert keys(make(cloud, sites=SiteCache(blocked)).pull()) == ["PORTAL-1"]
    assert "Jira site facts not kept in" in caplog.text


def test_a_stored_file_that_cannot_be_read_is_learnt_again(
    cloud: FakeJira, make: Any, tmp_path: Path
) -> None:
    cloud.add(issue("PORTAL-1"))
    make(cloud, sites=SiteCache(tmp_path)).pull()
    (stored,) = tmp_path.iterdir()
    stored.write_text('{"format": 1, "site": "half a fi')
    assert keys(make(cloud, sites=SiteCache(tmp_path)).pull()) == ["PORTAL-1"]
    assert cloud.requests_to("/rest/api/2/serverInfo") == 2
    assert json.loads(stored.read_text())["deployment"] == "Cloud"


# --- registry and contract ----------------------------------------------------------------


def test_the_registry_builds_a_jira_source(cloud: FakeJira, make: Any) -> None:
    source = build_source(make(cloud).cfg)
    assert isinstance(source, JiraSource) and (source.name, source.type) == ("jira", "jira")


def test_the_contract_case_holds_its_standard_project() -> None:
    with contract_case() as (source, expected):
        pull = source.pull()
    assert keys(pull) == expected
    assert any(t.state == "done" for t in pull.tasks) and any(t.blocked for t in pull.tasks)


def test_an_issue_seen_twice_is_one_task_with_its_latest_data() -> None:
    # Pages can overlap when issues change while a search is paged; the id decides.
    first = issue("PORTAL-1", "old title")
    again = issue("PORTAL-1", "new title")
    found = normalise_issues(
        [first, issue("PORTAL-2"), again],
        source="jira",
        site="https://acme.atlassian.net",
        stage_field="fixVersion",
        ids=FieldIds(),
    )
    assert [(t.key, t.title) for t in found.tasks.values()] == [
        ("PORTAL-1", "new title"),
        ("PORTAL-2", "PORTAL-2 summary"),
    ]
    assert found.tasks[first["id"]].url == "https://acme.atlassian.net/browse/PORTAL-1"
