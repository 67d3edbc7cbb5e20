"""Which runs of many projects fan out into one run per project (only a worker's, on a work
pool), and which projects a schedule's run syncs.

The fan-out itself (runs started, shared by two workers, each project once) is shown end to end
by `tests/deployments/test_workers.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flows.fan_out import fans_out
from flows.runtime import DeployedRun
from flows.sync import chosen_projects
from stagecast.config import parse_config

NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)


def run(work_pool: str | None) -> DeployedRun:
    return DeployedRun("r-1", NOW, False, deployment="d-1", work_pool=work_pool)


def test_only_a_run_on_a_work_pool_of_several_projects_fans_out():
    assert fans_out(run("stagecast"), projects=2)
    assert not fans_out(run("stagecast"), projects=1)  # one project: just sync it
    assert not fans_out(run(None), projects=200)  # `stagecast serve`: threads in its process
    assert not fans_out(None, projects=200)  # the command line, or outside any deployment


def test_a_schedule_syncs_its_group_and_leaves_out_a_project_no_longer_configured(tmp_path, caplog):
    (tmp_path / "board.json").write_text('{"cards": [], "lists": []}', encoding="utf-8")
    projects = "".join(
        f"  - {{key: {k}, name: {k}, sources: [{{type: trello_export, path: board.json}}]}}\n"
        for k in ("a", "b", "c")
    )
    config = parse_config(f"timezone: Asia/Shanghai\nprojects:\n{projects}", tmp_path)
    assert [p.key for p in chosen_projects(config, None)] == ["a", "b", "c"]
    assert [p.key for p in chosen_projects(config, ["c", "gone", "a"])] == ["a", "c"]
    assert "not in the config any more, not synced: gone" in caplog.text
