"""Events reach the Prefect API: a stage completing between two syncs is announced once."""

from __future__ import annotations

import time
import uuid

from prefect.client.orchestration import get_client
from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
from prefect.events.worker import EventsWorker

from flows.runtime import local_runs
from flows.sync import sync_flow
from tests.trello_boards import card, write_board

CONFIG = """
timezone: Asia/Shanghai
projects:
  - key: {key}
    name: Events test
    stages:
      - {{name: 设计评审, key: design, match: 设计}}
    sources:
      - {{type: trello_export, path: board.json}}
"""


def completed_events(resource: str) -> list[str]:
    """Ids of stage.completed events the server has stored for one stage."""
    query = EventFilter(
        event=EventNameFilter(name=["stagecast.stage.completed"]),
        resource=EventResourceFilter(id=[resource]),
    )
    with get_client(sync_client=True) as client:
        return [str(e.id) for e in client.read_events(filter=query, limit=50).events]


def wait_for_events(resource: str, at_least: int, seconds: float = 45) -> list[str]:
    """The event persister writes in batches: poll until the events are there."""
    deadline = time.monotonic() + seconds
    found = completed_events(resource)
    while len(found) < at_least and time.monotonic() < deadline:
        time.sleep(0.5)
        found = completed_events(resource)
    return found


def test_stage_completing_between_two_syncs_emits_exactly_one_event(tmp_path):
    key = f"events-{uuid.uuid4().hex[:8]}"
    cfg = tmp_path / "stagecast.yaml"
    cfg.write_text(CONFIG.format(key=key), encoding="utf-8")
    open_design = [
        card("D1", "done", labels=("设计",), done_moves=("2026-11-18T03:00:00Z",)),
        card("D2", "doing", labels=("设计",)),
    ]
    write_board(tmp_path / "board.json", open_design)
    with local_runs():
        sync_flow(str(cfg), key, "2026-11-19T18:00:00+08:00")
        done = [
            open_design[0],
            card("D2", "done", labels=("设计",), done_moves=("2026-11-20T03:00:00Z",)),
        ]
        write_board(tmp_path / "board.json", done)
        first = sync_flow(str(cfg), key, "2026-11-20T18:00:00+08:00")
        again = sync_flow(str(cfg), key, "2026-11-20T18:00:00+08:00")
        later = sync_flow(str(cfg), key, "2026-11-21T18:00:00+08:00")
    EventsWorker.drain_all(timeout=30, at_exit=False)
    # The only stage completing completes the project too: one event of each, once.
    types = [e.type for e in first.projects[0].events]
    assert types == ["stagecast.stage.completed", "stagecast.project.completed"]
    emitted = [e.id for e in first.projects[0].events if e.type == "stagecast.stage.completed"]
    assert again.projects[0].events == () == later.projects[0].events
    resource = f"stagecast.project.{key}.stage.design"
    stored = wait_for_events(resource, at_least=1)
    time.sleep(2)  # let any stray second event land before counting
    assert completed_events(resource) == stored == emitted
