"""What the deployments are made of, from a config, without a server: schedules, triggers that
match only what a project wants, the global limits it needs, which team hears of a failure."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from deployments.build import build_deployments, run_tag, schedules, triggers
from deployments.catalog import CATALOG
from flows.limits import wanted_limits
from flows.team_alert import concerned
from stagecast.config import parse_config

CONFIG = """
timezone: Asia/Shanghai
projects:
  - key: acme
    name: ACME
    sync: {every_minutes: 30}
    sources:
      - {type: jira, url: "https://acme.atlassian.net", email: a@b.example, token: env:T,
         jql: "project = A", max_concurrency: 6}
      - {type: gdrive, folder: f, credentials: /tmp/key.json}
    channels: [{name: team, type: file}]
    reports:
      daily_update: {cron: "30 17 * * mon-fri", channels: [team]}
      stage_report: {channels: [team]}
      risk_alert: {channels: [team], min_severity: high}
  - key: beta
    name: Beta
    timezone: Europe/Berlin
    sources:
      - {type: jira, url: "https://acme.atlassian.net:443/", email: a@b.example, token: env:T,
         jql: "project = B", max_concurrency: 3}
    channels: [{name: team, type: file}]
    reports:
      daily_update: {channels: [team]}
      weekly_update: {cron: "0 16 * * fri", channels: [team]}
      project_report: {channels: [team]}
      risk_alert: {channels: [team]}
  - key: gamma
    name: Gamma
    sync: {every_minutes: 30}
    sources: [{type: trello_export, path: board.json}]
    channels: [{name: team, type: file}]
    reports:
      risk_alert: {channels: [team], min_severity: medium}
"""


@pytest.fixture
def config(tmp_path: Path):
    (tmp_path / "board.json").write_text('{"cards": [], "lists": []}', encoding="utf-8")
    return parse_config(CONFIG, tmp_path)


def declared(flow: str):
    return next(d for d in CATALOG if d.flow == flow)


def test_each_project_gets_its_schedules_with_its_parameters(config) -> None:
    daily = schedules(declared("daily-update"), config)
    assert [(s.slug, s.cron, s.timezone, s.parameters) for s in daily] == [
        ("daily-update-acme", "30 17 * * mon-fri", "Asia/Shanghai", {"project": "acme"}),
    ]  # beta's daily update has no cron: it is only sent on demand
    weekly = schedules(declared("weekly-update"), config)
    assert [(s.slug, s.cron, s.timezone, s.parameters) for s in weekly] == [
        ("weekly-update-beta", "0 16 * * fri", "Europe/Berlin", {"project": "beta"}),
    ]
    # One sync schedule per interval and timezone, for all the projects that share them.
    sync = schedules(declared("sync"), config)
    assert [(s.slug, s.interval, s.timezone, s.parameters) for s in sync] == [
        (
            "sync-every-30min-Asia/Shanghai",
            timedelta(minutes=30),
            "Asia/Shanghai",
            {"projects": ["acme", "gamma"]},
        ),
        (
            "sync-every-60min-Europe/Berlin",
            timedelta(minutes=60),
            "Europe/Berlin",
            {"projects": ["beta"]},
        ),
    ]
    assert sync[1].anchor_date.hour == 0  # counted from a local midnight: on the hour
    (pending,) = schedules(declared("deliver-pending"), config)
    assert pending.interval == timedelta(minutes=15)
    assert schedules(declared("stage-report"), config) == []


def test_triggers_start_runs_only_for_what_each_project_wants(config) -> None:
    (stage,) = triggers(declared("stage-report"), config, "stagecast")
    assert stage.expect == {"stagecast.stage.completed"}
    assert stage.match.model_dump()["prefect.resource.id"] == ["stagecast.project.acme.stage.*"]
    risks = triggers(declared("risk-alert"), config, "stagecast")
    floors = {
        tuple(t.match.model_dump()["stagecast.risk.severity"]): t.match.model_dump()[
            "prefect.resource.id"
        ]
        for t in risks
    }
    assert floors == {
        ("high",): ["stagecast.project.acme"],
        ("high", "medium"): ["stagecast.project.gamma"],
        ("high", "medium", "low"): ["stagecast.project.beta"],
    }
    assert all(
        t.parameters["risk"] == "{{ event.payload.code }}:{{ event.payload.subject }}"
        for t in risks
    )
    (alert,) = triggers(declared("team-alert"), config, "ops")
    assert alert.expect == {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}
    assert alert.match_related.model_dump() == {
        "prefect.resource.role": "tag",
        "prefect.resource.id": "prefect.tag.stagecast-ops",
    }
    assert triggers(declared("sync"), config, "stagecast") == []
    (wrap_up,) = triggers(declared("project-report"), config, "stagecast")
    assert wrap_up.expect == {"stagecast.project.completed"}
    assert wrap_up.match.model_dump()["prefect.resource.id"] == ["stagecast.project.beta"]
    assert wrap_up.parameters == {"project": "{{ event.payload.project }}"}


def test_deployments_carry_the_config_path_and_module_entrypoints(config, tmp_path) -> None:
    cfg = tmp_path / "stagecast.yaml"
    built = build_deployments(cfg, config, "ops")
    assert [d.flow_name for d in built] == [d.flow for d in CATALOG]
    assert all(d.parameters == {"config": str(cfg.resolve())} for d in built)
    assert {d.entrypoint for d in built} == {e.entrypoint.replace(":", ".") for e in CATALOG}
    tags = {d.flow_name: d.tags for d in built}
    assert tags["sync"] == ["stagecast", run_tag("ops")] and tags["team-alert"] == ["stagecast"]


def test_one_limit_per_host_at_its_smallest_and_one_per_project(config) -> None:
    assert wanted_limits(config) == {
        "stagecast-project-acme": 1,
        "stagecast-project-beta": 1,
        "stagecast-project-gamma": 1,
        "stagecast-host-acme.atlassian.net:443": 3,
        "stagecast-host-www.googleapis.com:443": 8,
    }


def test_a_failure_is_told_to_the_team_it_concerns(config) -> None:
    keys = lambda projects: [p.key for p in projects]  # noqa: E731
    assert keys(concerned(config, {"project": "beta"}, "anything")) == ["beta"]
    assert keys(concerned(config, {"project": "other"}, "x")) == []  # another config's project
    reason = "acme: source jira unavailable: timed out"
    assert keys(concerned(config, {}, reason)) == ["acme"]
    assert keys(concerned(config, {}, "Process exited with status code: -9")) == [
        "acme",
        "beta",
        "gamma",
    ]
