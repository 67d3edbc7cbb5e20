"""When the serving process dies with a run in it, nothing is left to report the run: its
heartbeats stop, the server marks it Crashed, and the team is told once serving resumes."""

from __future__ import annotations

import os
import signal

from tests.connectors.fake_jira import FakeJira, issue
from tests.deployments.conftest import (
    flow_process,
    outbox_files,
    serving,
    start,
    state_of,
    unique,
    wait_final,
    wait_for,
)

CONFIG = """timezone: Asia/Shanghai
projects:
  - key: {key}
    name: 心跳
    sources:
      - {{type: jira, url: "{url}", email: pm@acme.example, token: "env:WATCH_JIRA_TOKEN",
          jql: "project = PORTAL", timeout_seconds: 300}}
    channels: [{{name: team, type: file, audience: internal, language: en}}]
"""


def heartbeats(flow_run_id: object) -> int:
    """How many heartbeats of a run the server has received."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    query = EventFilter(
        event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
        resource=EventResourceFilter(id=[f"prefect.flow-run.{flow_run_id}"]),
    )
    with get_client(sync_client=True) as client:
        return len(client.read_events(filter=query, limit=10).events)


def test_a_run_whose_serving_process_died_is_marked_crashed_and_the_team_told(
    tmp_path, prefect_server
):
    key, name = unique("watch"), unique("watch")
    with FakeJira(latency=600) as hanging:
        hanging.add(issue("PORTAL-1", "挂起"))
        os.environ["WATCH_JIRA_TOKEN"] = hanging.token or ""
        cfg = tmp_path / "stagecast.yaml"
        cfg.write_text(CONFIG.format(key=key, url=hanging.url), encoding="utf-8")
        with serving(cfg, name, prefect_server, tmp_path / "first.log") as first:
            run = start(f"sync/{name}", project=key)
            pid = wait_for("the sync's process", lambda: flow_process(str(run.id)), 120)
            wait_for("the sync to run", lambda: state_of(run.id)[0] == "RUNNING", 60)
            wait_for("the run's first heartbeat at the server", lambda: heartbeats(run.id), 60)
            # The machine goes: the serving process and the run in it, at once.
            os.killpg(first.pid, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
        crashed = wait_final(run.id, timeout=240)
        assert crashed.state.type.value == "CRASHED"
        assert "no heartbeat" in crashed.state.message
        # Serving again runs the team alert the crash asked for.
        with serving(cfg, name, prefect_server, tmp_path / "second.log"):
            (told,) = wait_for(
                "the team alert of the crashed run",
                lambda: outbox_files(tmp_path, key, "team", "team_alert"),
                timeout=120,
            )
    text = told.read_text(encoding="utf-8")
    assert "Run crashed" in text and "no heartbeat" in text
