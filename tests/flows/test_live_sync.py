"""`stagecast sync` against local Jira, Trello and Drive servers speaking the vendors' APIs.

Figures worked by hand for the data below, at Fri 2026-11-20 18:00 Shanghai (W = 11-09 .. 11-20):
stage v1.0 (Jira fixVersion, released 2026-12-01; Trello label) holds PORTAL-1 (done 11-18),
PORTAL-2 (in progress, flagged), PORTAL-3 (to do, due 11-19), T1 (done 11-19) and T2 (doing):
5 tasks, 2 done, both in W -> ceil(3 × 10 / 2) = 15 working days after 11-20 = 2026-12-11,
after the due date: at_risk. PORTAL-9 is an epic and not a task.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.connectors import fake_drive
from tests.connectors.fake_jira import FakeJira, issue, version
from tests.connectors.fake_trello import FakeTrello
from tests.trello_boards import board, card

V1 = version("v1.0", "2026-12-01")


def jira_issues():
    return [
        issue("PORTAL-9", "门户一期", type="Epic"),
        issue(
            "PORTAL-1",
            "需求评审",
            status="Done",
            category="done",
            resolution="Done",
            resolutiondate="2026-11-18T16:30:00.000+0800",
            fix_versions=[V1],
        ),
        issue(
            "PORTAL-2",
            "订单接口",
            status="In Progress",
            category="indeterminate",
            assignee="张三",
            flagged=True,
            fix_versions=[V1],
        ),
        issue("PORTAL-3", "登录页", due="2026-11-19", assignee="李四", fix_versions=[V1]),
    ]


def trello_board():
    return board(
        [
            card("T1", "done", labels=("v1.0",), done_moves=("2026-11-19T03:00:00.000Z",)),
            card("T2", "doing", labels=("v1.0",)),
        ]
    )


CONFIG = """
timezone: Asia/Shanghai
projects:
  - key: live
    name: Live sources
    sources:
      - {{type: jira, url: "{jira}", email: pm@acme.example, token: "env:LIVE_JIRA_TOKEN",
          jql: "project = PORTAL", timeout_seconds: 5}}
      - {{type: trello, url: "{trello}", board: "{board}", key: "{key}", token: "{token}",
          timeout_seconds: 5}}
      - {{type: gdrive, url: "{drive}", folder: {folder}, credentials: "{credentials}",
          minutes_folder: {minutes}, timeout_seconds: 5}}
"""


@pytest.fixture
def live(tmp_path, monkeypatch):
    """The three servers, and a config pointing at them."""
    with (
        FakeJira() as jira,
        FakeTrello() as trello,
        fake_drive.running_drive(tmp_path, fake_drive.project_drive()) as (drive, key_file),
    ):
        jira.add(*jira_issues())
        monkeypatch.setenv("LIVE_JIRA_TOKEN", jira.token or "")
        board_id = trello.add_board(trello_board())
        trello_cfg = trello.config(board_id)
        cfg = tmp_path / "stagecast.yaml"
        cfg.write_text(
            CONFIG.format(
                jira=jira.url,
                trello=trello.url,
                board=board_id,
                key=trello_cfg.key,
                token=trello_cfg.token,
                drive=fake_drive._base(key_file),
                folder=fake_drive.ROOT,
                minutes=fake_drive.MINUTES,
                credentials=key_file,
            ),
            encoding="utf-8",
        )
        yield cfg, jira, trello, drive


def sync(run_cli, cfg: Path, as_of: str):
    return run_cli("sync", "-c", str(cfg), "--as-of", as_of, "--json")


def test_three_live_sources_sync_with_the_figures_worked_by_hand(live, run_cli):
    cfg, *_ = live
    out = sync(run_cli, cfg, "2026-11-20T18:00")
    assert out.code == 0, out.stderr
    project = out.project("live")
    assert [(s["name"], s["ok"], s["tasks"]) for s in project["sources"]] == [
        ("jira", True, 3),
        ("trello", True, 2),
        ("gdrive", True, 0),
    ]
    assert project["progress"] == {"total": 5, "done": 2, "ratio": 0.4}
    assert project["stages"] == [
        {
            "name": "v1.0",
            "key": "v1-0",
            "due": "2026-12-01",
            "total": 5,
            "done": 2,
            "ratio": 0.4,
            "throughput": 0.2,
            "forecast": "2026-12-11",
            "status": "at_risk",
        }
    ]
    assert [(r["severity"], r["code"], r["subject"]) for r in project["risks"]] == [
        ("high", "blocked", "PORTAL-2"),
        ("high", "overdue", "PORTAL-3"),
        ("high", "stage_at_risk", "v1.0"),
        ("medium", "stale", "PORTAL-2"),
        ("medium", "stale", "T2"),
    ]


def test_a_second_sync_moments_later_fetches_only_what_changed(live, run_cli):
    cfg, jira, trello, drive = live
    first = sync(run_cli, cfg, "2026-11-20T18:00")
    jira_before, trello_before = jira.total_requests, len(trello.seen)
    drive_before, exports_before = len(drive.api_requests()), len(drive.exports())
    searches_before = len(jira.searches)
    second = sync(run_cli, cfg, "2026-11-20T18:05")
    assert second.code == 0, second.stderr
    new_searches = jira.searches[searches_before:]
    assert len(new_searches) == 1 and "updated >=" in new_searches[0].jql
    assert jira.total_requests - jira_before <= 3  # serverInfo, field, one search
    assert len(trello.seen) - trello_before <= 3
    assert len(drive.exports()) == exports_before  # minutes unchanged: not exported again
    assert len(drive.api_requests()) - drive_before <= 5
    same = lambda doc: {k: v for k, v in doc.project("live").items() if k != "sources"}  # noqa: E731
    assert same(second) == same(first)


def test_a_dead_source_is_carried_forward_while_the_others_stay_fresh(live, run_cli):
    cfg, jira, trello, _ = live
    sync(run_cli, cfg, "2026-11-20T18:00")
    jira.__exit__(None, None, None)  # the Jira site goes away
    trello.move_card(
        trello.board_id if hasattr(trello, "board_id") else _board_of(trello),
        _card_id(trello, "T2"),
        _list_id(trello, "Done"),
    )
    out = sync(run_cli, cfg, "2026-11-20T19:00")
    assert out.code == 1
    project = out.project("live")
    sources = {s["name"]: s for s in project["sources"]}
    assert sources["jira"]["ok"] is False and sources["jira"]["tasks"] == 3
    assert sources["jira"]["last_ok"] == "2026-11-20T18:00:00+08:00"
    assert "connection failed" in sources["jira"]["error"]
    assert sources["trello"]["ok"] and sources["trello"]["last_ok"] == "2026-11-20T19:00:00+08:00"
    assert project["progress"]["done"] == 3  # T2 is done now; Jira's three carried forward
    assert ("source_unavailable", "jira") in [(r["code"], r["subject"]) for r in project["risks"]]


def _board_of(trello: FakeTrello) -> str:
    return next(iter(trello._boards))


def _card_id(trello: FakeTrello, short: str) -> str:
    cards = trello.board(_board_of(trello))["cards"]
    return next(c["id"] for c in cards if c["shortLink"] == short)


def _list_id(trello: FakeTrello, name: str) -> str:
    lists = trello.board(_board_of(trello))["lists"]
    return next(lst["id"] for lst in lists if lst["name"] == name)


TEN_PROJECTS = "timezone: Asia/Shanghai\nprojects:\n" + "".join(
    f"""  - key: p{n}
    name: Project {n}
    sources:
      - {{type: jira, url: "{{jira}}", email: pm@acme.example, token: "env:LIVE_JIRA_TOKEN",
          jql: "project = PORTAL", max_concurrency: 4, timeout_seconds: 10}}
"""
    for n in range(10)
)


def test_ten_projects_on_one_jira_never_exceed_its_concurrency(tmp_path, monkeypatch, run_cli):
    # The flow syncs up to 8 projects at once, so only the host limit keeps Jira at 4.
    with FakeJira(latency=0.05, page_cap=1) as jira:
        jira.add(*jira_issues())
        monkeypatch.setenv("LIVE_JIRA_TOKEN", jira.token or "")
        cfg = tmp_path / "stagecast.yaml"
        cfg.write_text(TEN_PROJECTS.replace("{jira}", jira.url), encoding="utf-8")
        out = sync(run_cli, cfg, "2026-11-20T18:00")
        assert out.code == 0, out.stderr
        assert [p["progress"]["total"] for p in out.json["projects"]] == [3] * 10
        assert 1 < jira.peak <= 4, jira.peak
