"""What a sync of several projects leaves on its flow run's page in the Prefect UI."""

from __future__ import annotations

import shutil

import yaml

from flows.demo import BOARD, DEMO_SOURCE, fresh_workspace
from flows.engine import as_prefect_flow
from flows.sync import sync_flow


def test_a_sync_of_five_projects_shows_its_progress_and_each_projects_risks(tmp_path):
    cfg = fresh_workspace(tmp_path / "demo")
    shutil.copyfile(DEMO_SOURCE / BOARD, tmp_path / "demo" / BOARD)
    document = yaml.safe_load(cfg.read_text("utf-8"))
    demo = document["projects"][0]
    document["projects"] = [{**demo, "key": f"p{n}", "name": f"P{n}"} for n in range(5)]
    cfg.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")

    state = as_prefect_flow(sync_flow)(
        str(cfg), as_of="2026-11-20T17:30:00+08:00", return_state=True
    )
    assert state.is_completed(), state.message

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    progress = [a for a in artifacts if a.type == "progress"]
    assert [a.data for a in progress] == [100.0]
    tables = sorted(a.key for a in artifacts if a.type == "table")
    assert tables == [f"risks-p{n}" for n in range(5)]
