"""One contract, every source: what `pull` returns and how a source fails (DESIGN: shared suite).

Each source runs against its real stand-in: a local server speaking the vendor's API (Jira,
Trello, Drive) or a file (the export). The same checks hold for all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.plugins import SOURCES
from connectors.sources.base import PullRequest, SourceError
from connectors.sources.trello_export import TrelloExportSource
from stagecast.models import Document, SourcePull, Task
from tests.connectors import fake_drive, fake_jira, fake_trello
from tests.trello_boards import card, write_board

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@contextmanager
def export_case(tmp_path: Path) -> Iterator[tuple[Any, tuple[str, ...]]]:
    """The export source over a file; taking the file away is its outage."""
    path = write_board(
        tmp_path / "board.json",
        [
            card("TODO0001"),
            card("DOING001", "doing"),
            card("BLOCKED1", "blocked"),
            card("DONE0001", "done", done_moves=("2026-11-18T03:00:00Z",)),
        ],
    )
    cfg = SimpleNamespace(
        name="export",
        type="trello_export",
        path=path,
        stage_field="label",
        lists=SimpleNamespace(done=[], doing=[]),
    )
    yield TrelloExportSource(cfg), ("TODO0001", "DOING001", "BLOCKED1", "DONE0001")
    path.unlink()


CASES: dict[str, Callable[[Path], AbstractContextManager[tuple[Any, Any]]]] = {
    "trello_export": export_case,
    "trello": lambda tmp_path: fake_trello.contract_case(),
    "jira": lambda tmp_path: fake_jira.contract_case(),
    "gdrive": fake_drive.contract_case,
}


@pytest.fixture(params=sorted(SOURCES))
def case(request, tmp_path):
    """(source, expected task keys or document names) for every registered source type: a
    plugin without a case here fails every contract test."""
    if request.param not in CASES:
        pytest.fail(f"source type {request.param!r} has no contract case: add one to CASES")
    with CASES[request.param](tmp_path) as (source, expected):
        yield source, tuple(expected)


def test_every_registered_source_has_a_contract_case():
    assert set(CASES) == set(SOURCES)


def _aware(moment: datetime | None) -> bool:
    return moment is None or moment.tzinfo is not None


def test_pull_returns_only_models_with_the_expected_items(case):
    source, expected = case
    pull = source.pull(PullRequest(as_of=NOW))
    assert isinstance(pull, SourcePull) and pull.complete
    if not SOURCES[source.type].provides_tasks:
        assert all(isinstance(d, Document) for d in pull.documents) and pull.tasks == ()
        assert sorted(d.name for d in pull.documents) == sorted(expected)
        assert all(d.source == source.name and _aware(d.modified) for d in pull.documents)
        return
    assert all(isinstance(t, Task) for t in pull.tasks)
    assert sorted(t.key for t in pull.tasks) == sorted(expected)


def test_tasks_are_normalised_the_same_way_everywhere(case):
    source, _ = case
    for t in source.pull(PullRequest(as_of=NOW)).tasks:
        assert t.key and t.id and t.source == source.name
        assert t.state in ("todo", "in_progress", "done")
        assert (t.done_at is not None) == (t.state == "done"), t.key
        assert all(_aware(m) for m in (t.created, t.updated, t.done_at)), t.key
        assert isinstance(t.labels, tuple) and isinstance(t.stage_values, tuple)
    tasks = source.pull(PullRequest(as_of=NOW)).tasks
    assert any(t.state == "done" for t in tasks) == SOURCES[source.type].provides_tasks
    assert any(t.blocked for t in tasks) == SOURCES[source.type].provides_tasks


def test_pulling_twice_gives_the_same_result(case):
    source, _ = case
    first, second = source.pull(PullRequest(as_of=NOW)), source.pull(PullRequest(as_of=NOW))
    assert first.tasks == second.tasks and first.documents == second.documents


def test_an_outage_is_a_source_error_not_a_crash(tmp_path):
    for name in sorted(CASES):
        manager = CASES[name](tmp_path / name)
        (tmp_path / name).mkdir(exist_ok=True)
        source, _ = manager.__enter__()
        manager.__exit__(None, None, None)
        _quicken(source)
        with pytest.raises(SourceError) as err:
            source.pull(PullRequest(as_of=NOW))
        where = "board.json" if name == "trello_export" else "127.0.0.1"
        message = str(err.value)
        assert where in message or f"source {source.name}" in message, name  # says where


def _quicken(source: Any) -> None:
    """No real back-off sleeps in tests: the outage is certain."""
    for attribute in ("sleep", "_sleep"):
        if hasattr(source, attribute):
            setattr(source, attribute, lambda seconds: None)
