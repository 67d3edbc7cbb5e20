"""`stagecast serve` and `deploy` put every deployment on the server once, with each project's
schedules and the event triggers; running them again changes nothing; a project removed from
the config loses its schedules."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

from prefect.client.orchestration import get_client

from tests.deployments.conftest import STAGECAST, serving, start, unique, wait_final
from tests.prefect_server import PREFECT, stop_group
from tests.trello_boards import card, write_board

FLOWS = ("sync", "daily-update", "stage-report", "risk-alert", "deliver-pending", "team-alert")

PROJECT = """
  - key: {key}
    name: {key}
    timezone: {zone}
    sync: {{every_minutes: {every}}}
    sources: [{{type: trello_export, path: board.json}}]
    channels: [{{name: team, type: file, audience: internal}}]
    reports:
      daily_update: {{cron: "{cron}", channels: [team]}}
      stage_report: {{channels: [team]}}
      risk_alert: {{channels: [team], min_severity: {floor}}}
"""


def write_config(folder: Path, projects: list[dict[str, Any]]) -> Path:
    write_board(folder / "board.json", [card("C1", "doing")])
    cfg = folder / "stagecast.yaml"
    body = "".join(PROJECT.format(**p) for p in projects)
    cfg.write_text(f"timezone: Asia/Shanghai\nprojects:{body}", encoding="utf-8")
    return cfg


def one_project(folder: Path, key: str) -> Path:
    """A config with one project, a daily cron and a high alert floor."""
    project = {"key": key, "zone": "Asia/Shanghai", "every": 60, "cron": "30 17 * * *"}
    return write_config(folder, [{**project, "floor": "high"}])


def server_view(name: str) -> dict[str, Any]:
    """What the server holds for one set of deployments: ids, schedules, automations."""
    view: dict[str, Any] = {}
    with get_client(sync_client=True) as client:
        for flow in FLOWS:
            d = client.read_deployment_by_name(f"{flow}/{name}")
            schedules = {
                s.slug: (s.id, s.schedule, s.parameters, s.active)
                for s in client.read_deployment_schedules(d.id)
            }
            owned = client.request(
                "GET",
                "/automations/related-to/{resource_id}",
                path_params={"resource_id": f"prefect.deployment.{d.id}"},
            ).json()
            view[flow] = {
                "id": d.id,
                "tags": sorted(d.tags),
                "entrypoint": d.entrypoint,
                "parameters": d.parameters,
                "pool": d.work_pool_name,
                "schedules": schedules,
                "automations": sorted(a["name"] for a in owned),
                "triggers": [a["trigger"] for a in owned],
            }
    return view


def crash_watches(name: str) -> list[Any]:
    with get_client(sync_client=True) as client:
        return client.read_automations_by_name(
            f"{name}: a run whose heartbeats stopped has crashed"
        )


def serve_once(cfg: Path, name: str, api: str, tmp_path: Path) -> None:
    """Start `stagecast serve`, let it register, stop it (as a user's restart would)."""
    with serving(cfg, name, api, tmp_path / f"{unique('serve')}.log"):
        pass


def test_serve_registers_every_deployment_once_and_follows_the_config(tmp_path, prefect_server):
    name = unique("reg")
    a, b = unique("proj"), unique("proj")
    projects = [
        {
            "key": a,
            "zone": "Asia/Shanghai",
            "every": 30,
            "cron": "30 17 * * mon-fri",
            "floor": "high",
        },
        {"key": b, "zone": "Europe/Berlin", "every": 60, "cron": "0 9 * * 1-5", "floor": "medium"},
    ]
    cfg = write_config(tmp_path, projects)
    serve_once(cfg, name, prefect_server, tmp_path)
    first = server_view(name)

    assert set(first) == set(FLOWS)
    assert all(d["entrypoint"].startswith("flows.") for d in first.values())
    assert all(d["parameters"] == {"config": str(cfg.resolve())} for d in first.values())
    assert first["sync"]["tags"] == ["stagecast", f"stagecast-{name}"]
    assert first["team-alert"]["tags"] == ["stagecast"]  # no alert about an alert
    daily = first["daily-update"]["schedules"]
    assert sorted(daily) == sorted([f"daily-update-{a}", f"daily-update-{b}"])
    cron_a, cron_b = daily[f"daily-update-{a}"][1], daily[f"daily-update-{b}"][1]
    assert (cron_a.cron, cron_a.timezone) == ("30 17 * * mon-fri", "Asia/Shanghai")
    assert (cron_b.cron, cron_b.timezone) == ("0 9 * * 1-5", "Europe/Berlin")
    assert daily[f"daily-update-{a}"][2] == {"project": a}
    sync = first["sync"]["schedules"]  # one per interval and timezone, for its projects
    assert sync["sync-every-30min-Asia/Shanghai"][1].interval == timedelta(minutes=30)
    assert sync["sync-every-60min-Europe/Berlin"][1].interval == timedelta(minutes=60)
    assert sync["sync-every-60min-Europe/Berlin"][2] == {"projects": [b]}
    (pending,) = first["deliver-pending"]["schedules"].values()
    assert pending[1].interval == timedelta(minutes=15)
    assert first["stage-report"]["automations"] == [f"{name}: stage report when a stage completes"]
    assert first["risk-alert"]["automations"] == [
        f"{name}: risk alert at high",
        f"{name}: risk alert at high/medium",
    ]
    assert first["team-alert"]["automations"] == [
        f"{name}: tell the team when a run fails or crashes"
    ]
    by_floor = {
        t["match"]["stagecast.risk.severity"][-1]: t for t in first["risk-alert"]["triggers"]
    }
    assert by_floor["high"]["match"]["prefect.resource.id"] == [f"stagecast.project.{a}"]
    assert by_floor["medium"]["match"]["prefect.resource.id"] == [f"stagecast.project.{b}"]

    # Serving again updates in place: the same deployments and schedules, no extra automation.
    serve_once(cfg, name, prefect_server, tmp_path)
    second = server_view(name)
    for flow in FLOWS:
        assert second[flow]["id"] == first[flow]["id"]
        assert {s: v[0] for s, v in second[flow]["schedules"].items()} == {
            s: v[0] for s, v in first[flow]["schedules"].items()
        }
        assert second[flow]["automations"] == first[flow]["automations"]

    watches = crash_watches(name)
    assert len(watches) == 1 and watches[0].trigger.within.total_seconds() == 90

    # A project leaves the config: its schedules and triggers go with it.
    cfg = write_config(tmp_path, projects[:1])
    serve_once(cfg, name, prefect_server, tmp_path)
    third = server_view(name)
    assert list(third["daily-update"]["schedules"]) == [f"daily-update-{a}"]
    assert list(third["sync"]["schedules"]) == ["sync-every-30min-Asia/Shanghai"]
    assert third["risk-alert"]["automations"] == [f"{name}: risk alert at high"]
    assert len(crash_watches(name)) == 1  # replaced, never doubled


def test_deploy_registers_the_same_deployments_on_a_process_pool(tmp_path, run_cli):
    name, pool = unique("dep"), unique("pool")
    key = unique("proj")
    cfg = one_project(tmp_path, key)
    out = run_cli("deploy", "-c", str(cfg), "--pool", pool, "--name", name)
    assert out.code == 0, out.stderr
    again = run_cli("deploy", "-c", str(cfg), "--pool", pool, "--name", name)
    assert again.code == 0, again.stderr
    view = server_view(name)
    assert {d["pool"] for d in view.values()} == {pool}
    assert list(view["daily-update"]["schedules"]) == [f"daily-update-{key}"]
    with get_client(sync_client=True) as client:
        assert client.read_work_pool(pool).type == "process"
        limits = {
            limit.name: limit.limit
            for limit in client.read_global_concurrency_limits(limit=200)
            if limit.name == f"stagecast-project-{key}"
        }
    assert limits == {f"stagecast-project-{key}": 1}


def test_serve_refuses_without_a_server(tmp_path):
    cfg = one_project(tmp_path, "p")
    env = {"PATH": "/usr/bin:/bin", "PREFECT_HOME": str(tmp_path / "home")}
    unset = subprocess.run(
        [str(STAGECAST), "serve", "-c", str(cfg)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert unset.returncode == 2
    assert "PREFECT_API_URL is not set" in unset.stderr and "Traceback" not in unset.stderr
    dead = subprocess.run(
        [str(STAGECAST), "serve", "-c", str(cfg)],
        env={**env, "PREFECT_API_URL": "http://127.0.0.1:9/api"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert dead.returncode == 2
    assert "does not answer" in dead.stderr and "Traceback" not in dead.stderr


def test_a_worker_on_the_pool_runs_what_deploy_registered(tmp_path, run_cli, prefect_server):
    name, pool = unique("wrk"), unique("pool")
    key = unique("proj")
    cfg = one_project(tmp_path, key)
    assert run_cli("deploy", "-c", str(cfg), "--pool", pool, "--name", name).code == 0
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_server,
        "PREFECT_HOME": str(tmp_path / "worker-home"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [str(PREFECT), "worker", "start", "--pool", pool],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        run = wait_final(start(f"sync/{name}", project=key).id, timeout=180)
    finally:
        stop_group(worker, grace=5)
    assert run.state.type.value == "COMPLETED", (tmp_path / "worker.log").read_text()
    assert run.name.startswith(f"sync-{key}-")
