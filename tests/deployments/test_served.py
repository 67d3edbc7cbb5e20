"""A served stagecast at work: an event starts the stage report, a client report waits for a
person's approval (given in the UI's way, or with `stagecast approve`), and a failing source or a
crashed run reaches the team. One `stagecast serve` process serves every test here."""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect.client.orchestration import get_client
from prefect.events import emit_event
from prefect.events.worker import EventsWorker

from tests.browser import needs_chromium, open_in_chromium
from tests.connectors.fake_jira import FakeJira, issue
from tests.deployments.conftest import (
    flow_process,
    flow_runs,
    midday_zone,
    outbox_files,
    serving,
    start,
    state_of,
    unique,
    wait_final,
    wait_for,
)
from tests.trello_boards import card, write_board

HEADER = """
timezone: Asia/Shanghai
projects:
"""
# Every day is a working day from 08:00 to 16:00 in a zone where it is now about noon.
CALENDAR = '{workdays: [mon, tue, wed, thu, fri, sat, sun], hours: "08:00-16:00"}'

STAGE_PROJECT = """
  - key: {key}
    name: 事件触发
    timezone: {zone}
    calendar: {calendar}
    stages: [{{name: 设计评审, key: design, match: 设计}}]
    sources: [{{type: trello_export, path: board.json}}]
    channels: [{{name: archive, type: file, audience: internal}}]
    reports: {{stage_report: {{channels: [archive]}}, daily_update: {{channels: [archive]}}}}
"""
APPROVAL_PROJECT = """
  - key: {key}
    name: 审批
    timezone: {zone}
    calendar: {calendar}
    sources: [{{type: trello_export, path: board.json}}]
    channels:
      - {{name: client-group, type: file, audience: client, approval: true}}
      - {{name: team, type: file, audience: internal, language: en}}
    reports: {{daily_update: {{channels: [client-group, team]}}}}
"""
CHAIN_PROJECT = """
  - key: {key}
    name: 连锁
    timezone: {zone}
    stages: [{{name: 设计评审, key: design, match: 设计}}, {{name: 开发, key: build, match: 开发}}]
    sources: [{{type: trello_export, path: chain.json}}]
    channels: [{{name: archive, type: file, audience: internal, language: en}}]
    reports:
      stage_report: {{channels: [archive]}}
      risk_alert: {{channels: [archive], min_severity: high}}
"""
JIRA_PROJECT = """
  - key: {key}
    name: Jira
    timezone: {zone}
    sources:
      - {{type: jira, url: "{url}", email: pm@acme.example, token: "env:SERVED_JIRA_TOKEN",
          jql: "project = PORTAL", timeout_seconds: 120}}
    channels: [{{name: team, type: file, audience: internal, language: en}}]
"""


@dataclass
class Served:
    folder: Path
    config: Path
    name: str
    keys: dict[str, str]
    api: str


@pytest.fixture(scope="module")
def served(tmp_path_factory, prefect_server) -> Any:
    folder = tmp_path_factory.mktemp("served")
    write_board(
        folder / "board.json",
        [
            card("D1", "done", labels=("设计",), done_moves=("2026-11-18T03:00:00Z",)),
            card("D2", "done", labels=("设计",), done_moves=("2026-11-19T03:00:00Z",)),
            card("B1", "doing", labels=("开发",)),
        ],
    )
    write_board(folder / "chain.json", [])  # the chain test writes its board as it goes
    keys = {
        k: unique(k)
        for k in ("event", "ui", "approve", "reject", "cli", "expire", "failing", "crash", "chain")
    }
    zone, calendar = midday_zone(), CALENDAR
    with FakeJira(latency=60) as hanging:
        hanging.add(issue("PORTAL-1", "挂起"))
        os.environ["SERVED_JIRA_TOKEN"] = hanging.token or ""
        body = HEADER
        body += STAGE_PROJECT.format(key=keys["event"], zone=zone, calendar=calendar)
        body += STAGE_PROJECT.format(key=keys["ui"], zone=zone, calendar=calendar)
        for k in ("approve", "reject", "cli", "expire"):
            body += APPROVAL_PROJECT.format(key=keys[k], zone=zone, calendar=calendar)
        body += CHAIN_PROJECT.format(key=keys["chain"], zone=zone)
        body += JIRA_PROJECT.format(key=keys["failing"], zone=zone, url="http://127.0.0.1:9")
        body += JIRA_PROJECT.format(key=keys["crash"], zone=zone, url=hanging.url)
        cfg = folder / "stagecast.yaml"
        cfg.write_text(body, encoding="utf-8")
        name = unique("served")
        with serving(cfg, name, prefect_server, folder / "serve.log"):
            yield Served(folder, cfg, name, keys, prefect_server)


def artifacts_keyed(key: str) -> list[dict[str, Any]]:
    """The artifacts stored under one key (each version), as the API returns them."""
    with get_client(sync_client=True) as client:
        query = {"artifacts": {"key": {"any_": [key]}}}
        return list(client.request("POST", "/artifacts/filter", json=query).json())


def deliveries(run_cli, served: Served, project: str) -> dict[str, dict[str, Any]]:
    out = run_cli("deliveries", "-c", str(served.config), "--json")
    rows = [r for r in out.json["deliveries"] if r["project"] == project]
    return {f"{r['report']}:{r['channel']}": r for r in rows}


def test_a_stage_completed_event_delivers_the_stage_report_in_seconds(served, capsys):
    key = served.keys["event"]
    event_id = uuid.uuid4()

    def stage_completed() -> None:
        """What the sync emits when 设计评审 completes (the same id each time)."""
        emit_event(
            "stagecast.stage.completed",
            {"prefect.resource.id": f"stagecast.project.{key}.stage.design"},
            payload={"project": key, "stage": "设计评审"},
            id=event_id,
        )
        EventsWorker.drain_all(timeout=30, at_exit=False)

    emitted = time.monotonic()
    stage_completed()
    (report,) = wait_for(
        "the stage report in the outbox",
        lambda: outbox_files(served.folder, key, "archive", "stage_report"),
        timeout=120,
    )
    seconds = time.monotonic() - emitted
    (served.folder / "event-to-delivered.txt").write_text(f"{seconds:.1f}\n")
    with capsys.disabled():
        print(f"\nevent → stage report delivered: {seconds:.1f} s")
    assert report.name == "stage_report-design.md"
    assert "设计评审" in report.read_text(encoding="utf-8")
    (run,) = flow_runs(f"stage-report/{served.name}")
    run = wait_final(run.id)
    assert run.state.type.value == "COMPLETED"
    assert run.name.startswith(f"stage-report-{key}-设计评审-")
    assert run.parameters["stage"] == "设计评审" and run.parameters["project"] == key
    artifacts = artifacts_keyed(f"report-{key}-stage-report")
    assert [a["flow_run_id"] for a in artifacts] == [str(run.id)]
    assert "设计评审" in artifacts[0]["data"]
    # The same event again (a re-emitted event keeps its id) starts no second run.
    stage_completed()
    time.sleep(8)
    assert len(flow_runs(f"stage-report/{served.name}")) == 1
    assert len(outbox_files(served.folder, key, "archive", "stage_report")) == 1


def test_a_sync_that_sees_a_stage_complete_and_a_new_risk_starts_their_reports(served):
    """The whole chain: sync → events (with the risk's severity) → triggers → reports."""
    key = served.keys["chain"]
    board = served.folder / "chain.json"
    recent = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    tomorrow = time.strftime("%Y-%m-%dT12:00:00.000Z", time.gmtime(time.time() + 86400))
    doing = {"labels": ("开发",), "last_activity": recent}
    write_board(
        board,
        [
            card("D1", "done", labels=("设计",), done_moves=("2026-11-18T03:00:00Z",)),
            card("D2", "doing", labels=("设计",), last_activity=recent),
            card("S1", "doing", **doing),
        ],
    )
    first = wait_final(start(f"sync/{served.name}", project=key).id)
    assert first.state.type.value == "COMPLETED", first.state.message
    write_board(
        board,
        [
            card("D1", "done", labels=("设计",), done_moves=("2026-11-18T03:00:00Z",)),
            card("D2", "done", labels=("设计",), done_moves=("2026-11-19T03:00:00Z",)),
            card("S1", "doing", **doing),
            card("B1", "blocked", **doing),  # blocked: a new high risk
            card("U1", "todo", labels=("开发",), member=None, due=tomorrow),  # unassigned: medium
        ],
    )
    second = wait_final(start(f"sync/{served.name}", project=key).id)
    assert second.state.type.value == "COMPLETED", second.state.message
    (stage_report,) = wait_for(
        "the stage report the sync's event asked for",
        lambda: outbox_files(served.folder, key, "archive", "stage_report"),
    )
    assert stage_report.name == "stage_report-design.md"
    (alert,) = wait_for(
        "the risk alert the sync's event asked for",
        lambda: outbox_files(served.folder, key, "archive", "risk_alert"),
    )
    assert "B1" in alert.read_text(encoding="utf-8")
    raised = {(e["code"], e["severity"]) for e in _events(second.id)}
    assert raised >= {("blocked", "high"), ("unassigned", "medium")}
    alerts = [r for r in flow_runs(f"risk-alert/{served.name}") if r.parameters["project"] == key]
    assert [r.parameters["risk"] for r in alerts] == ["blocked:B1"]  # high only, not medium


def _events(flow_run_id: Any) -> list[dict[str, Any]]:
    """The payloads of the risk.raised events the server stored from one run."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter

    query = EventFilter(
        event=EventNameFilter(name=["stagecast.risk.raised"]),
        related=EventRelatedFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
    )

    def found() -> list[dict[str, Any]]:
        with get_client(sync_client=True) as client:
            return [dict(e.payload) for e in client.read_events(filter=query, limit=50).events]

    return wait_for("the run's risk events on the server", found, timeout=30)


def suspended(run_id: Any) -> bool:
    return state_of(run_id) == ("PAUSED", "Suspended")


def test_approval_in_the_ui_and_with_the_cli_sends_once_and_rejection_sends_nothing(
    served, run_cli
):
    keys = served.keys
    runs = {
        k: start(f"daily-update/{served.name}", project=keys[k])
        for k in ("approve", "reject", "cli")
    }
    for k, run in runs.items():
        wait_for(f"{k}'s run to suspend", lambda r=run: suspended(r.id), timeout=120)
    waiting = {k: deliveries(run_cli, served, keys[k]) for k in runs}
    for k, rows in waiting.items():
        client = rows["daily_update:client-group"]
        assert client["status"] == "awaiting_approval" and client["flow_run"] == str(runs[k].id)
        assert rows["daily_update:team"]["status"] == "sent"  # internal: not held for approval
        assert outbox_files(served.folder, keys[k], "client-group") == []
    with get_client(sync_client=True) as client:
        schema = json.loads(
            client.read_flow_run_input(runs["approve"].id, "suspended-approval-schema")
        )
    assert schema["required"] == ["approve"]
    assert set(schema["properties"]) == {"approve", "reason", "by"}

    def resume(run: Any, decision: dict[str, Any]) -> None:
        """What the UI's Resume form sends (a person clicks again when the server is busy)."""
        for _ in range(5):
            answer = httpx.post(
                f"{served.api}/flow_runs/{run.id}/resume", json={"run_input": decision}, timeout=30
            )
            if answer.status_code != 503:
                break
            time.sleep(1)
        assert answer.status_code == 201 and answer.json()["status"] == "ACCEPT", answer.text

    resume(runs["approve"], {"approve": True, "reason": "数字已核对", "by": "林经理"})
    resume(runs["reject"], {"approve": False, "reason": "numbers wrong", "by": "王工"})
    cli_id = waiting["cli"]["daily_update:client-group"]["id"]
    decided = run_cli("approve", cli_id, "-c", str(served.config), "--by", "赵工")
    assert decided.code == 0, decided.stderr
    assert f"resumed run {runs['cli'].id}" in decided.stdout
    for k, run in runs.items():
        assert wait_final(run.id).state.type.value == "COMPLETED", k
    after = {k: deliveries(run_cli, served, keys[k])["daily_update:client-group"] for k in runs}
    assert (after["approve"]["status"], after["approve"]["decided_by"]) == ("sent", "林经理")
    assert after["approve"]["attempts"] == 1
    assert (after["reject"]["status"], after["reject"]["reason"]) == ("rejected", "numbers wrong")
    assert after["reject"]["decided_by"] == "王工"
    assert (after["cli"]["status"], after["cli"]["decided_by"]) == ("sent", "赵工")
    assert len(outbox_files(served.folder, keys["approve"], "client-group")) == 1
    assert len(outbox_files(served.folder, keys["cli"], "client-group")) == 1
    assert outbox_files(served.folder, keys["reject"], "client-group") == []


def test_an_approval_nobody_gives_expires_cancels_the_waiting_run_and_tells_the_team(
    served, run_cli
):
    key = served.keys["expire"]
    run = start(f"daily-update/{served.name}", project=key)
    wait_for("the run to suspend", lambda: suspended(run.id), timeout=120)
    # 25 h and a half later: "waited 25 hours", whatever seconds the run took to suspend.
    later = time.localtime(time.time() + 25.5 * 3600)
    a_day_later = time.strftime("%Y-%m-%dT%H:%M:%S%z", later)
    out = run_cli("deliver-pending", "-c", str(served.config), "--as-of", a_day_later, "--json")
    assert out.code == 0, out.stderr
    mine = [
        d
        for d in out.json["deliveries"]
        if d["report"] in ("daily_update", "team_alert")
        and d["id"] in {r["id"] for r in deliveries(run_cli, served, key).values()}
    ]
    assert sorted((d["report"], d["channel"], d["status"]) for d in mine) == [
        ("daily_update", "client-group", "expired"),
        ("team_alert", "team", "sent"),
    ]
    assert state_of(run.id) == ("CANCELLED", "Cancelled")
    (told,) = outbox_files(served.folder, key, "team", "team_alert")
    assert "waited 25 hours for approval" in told.read_text(encoding="utf-8")
    assert outbox_files(served.folder, key, "client-group") == []


def test_a_failing_source_and_a_crashed_run_each_reach_the_team(served):
    keys = served.keys
    failing = start(f"sync/{served.name}", project=keys["failing"])
    crashing = start(f"sync/{served.name}", project=keys["crash"])
    pid = wait_for("the hanging sync's process", lambda: flow_process(str(crashing.id)), 120)
    wait_for("the hanging sync to run", lambda: state_of(crashing.id)[0] == "RUNNING", 60)
    os.kill(pid, signal.SIGKILL)
    failed, crashed = wait_final(failing.id, 180), wait_final(crashing.id, 120)
    assert failed.state.type.value == "FAILED"
    assert "source jira unavailable" in failed.state.message
    assert crashed.state.type.value == "CRASHED"
    (told_failed,) = wait_for(
        "the team alert of the failed sync",
        lambda: outbox_files(served.folder, keys["failing"], "team", "team_alert"),
        timeout=120,
    )
    text = told_failed.read_text(encoding="utf-8")
    assert "Run failed" in text and "source jira unavailable" in text
    assert f"/runs/flow-run/{failing.id}" in text  # a link to the run in the UI
    (told_crashed,) = wait_for(
        "the team alert of the crashed sync",
        lambda: outbox_files(served.folder, keys["crash"], "team", "team_alert"),
        timeout=120,
    )
    assert "Run crashed" in told_crashed.read_text(encoding="utf-8")


SHOTS = Path(__file__).resolve().parents[2] / ".stagecast" / "ui"


@needs_chromium
def test_the_ui_shows_a_completed_daily_update_and_its_report(served):
    key = served.keys["ui"]
    run = wait_final(start(f"daily-update/{served.name}", project=key).id)
    assert run.state.type.value == "COMPLETED", run.state.message
    assert run.name.startswith(f"daily-update-{key}-")
    (artifact,) = artifacts_keyed(f"report-{key}-daily-update")
    ui = served.api.removesuffix("/api")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = open_in_chromium(
        f"{ui}/v2/runs/flow-run/{run.id}", SHOTS / "daily-update-run.png", served.folder
    )
    assert run.name in page and "Completed" in page
    report = open_in_chromium(
        f"{ui}/v2/artifacts/artifact/{artifact['id']}",
        SHOTS / "daily-update-report.png",
        served.folder,
    )
    assert "项目日报" in report and "设计评审" in report
    for shot in ("daily-update-run.png", "daily-update-report.png"):
        assert (SHOTS / shot).stat().st_size > 20_000  # a rendered page, not a blank one
