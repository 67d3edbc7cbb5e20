"""evaluate(): carrying a failed source forward and laying incremental pulls over the last data."""

from __future__ import annotations

from stagecast.config import ProjectConfig
from stagecast.evaluate import SourceOutcome, evaluate
from stagecast.models import Document, SourcePull
from tests.builders import at, day, task

PROJECT = ProjectConfig.model_validate(
    {
        "key": "acme",
        "name": "ACME",
        "timezone": "Asia/Shanghai",
        "sources": [
            {"type": "jira", "url": "https://acme.example", "token": "env:T", "jql": "project = A"},
            {"type": "gdrive", "folder": "f", "credentials": "/dev/null"},
        ],
    }
)
NOW = at("2026-11-20 18:00")


def ok(name, *, tasks=(), docs=(), complete=True, removed=()):
    pull = SourcePull(
        tasks=tuple(tasks),
        documents=tuple(docs),
        complete=complete,
        removed=tuple(removed),
        cursor="c2",
    )
    return SourceOutcome(name, name, pull, None, NOW)


def failed(name):
    return SourceOutcome(name, name, None, "HTTP 503", at("2026-11-19 18:00"))


def keys(snapshot):
    return [(t.key, t.state) for t in snapshot.tasks]


FIRST = evaluate(
    PROJECT,
    at("2026-11-19 18:00"),
    [
        ok(
            "jira",
            tasks=[
                task("A-1", source="jira"),
                task("A-2", source="jira"),
                task("A-3", source="jira"),
            ],
        ),
        ok("gdrive", docs=[Document("d1", "需求规格说明书.docx", "gdrive")]),
    ],
    None,
    {},
)


def test_incremental_pull_updates_in_place_adds_after_and_drops_removed():
    snap = evaluate(
        PROJECT,
        NOW,
        [
            ok(
                "jira",
                complete=False,
                removed=["A-3"],
                tasks=[
                    task("A-2", "done", source="jira", done="2026-11-20"),
                    task("A-4", source="jira"),
                ],
            ),
            ok("gdrive", docs=[Document("d1", "需求规格说明书.docx", "gdrive")]),
        ],
        FIRST,
        {},
    )
    assert keys(snap) == [("A-1", "todo"), ("A-2", "done"), ("A-4", "todo")]
    assert snap.progress.total == 3


def test_a_failed_source_is_carried_forward_and_flagged():
    snap = evaluate(PROJECT, NOW, [failed("jira"), failed("gdrive")], FIRST, {})
    assert keys(snap) == keys(FIRST)
    assert [d.name for d in snap.documents] == ["需求规格说明书.docx"]
    assert [(r.code, r.subject) for r in snap.risks] == [
        ("source_unavailable", "gdrive"),
        ("source_unavailable", "jira"),
    ]
    jira = next(s for s in snap.sources if s.name == "jira")
    assert (jira.ok, jira.tasks, jira.error) == (False, 3, "HTTP 503")


def test_a_complete_pull_replaces_everything_from_that_source():
    snap = evaluate(
        PROJECT, NOW, [ok("jira", tasks=[task("A-9", source="jira")]), ok("gdrive")], FIRST, {}
    )
    assert keys(snap) == [("A-9", "todo")] and snap.documents == ()


def test_stage_due_dates_from_the_source_survive_an_incremental_pull():
    versions = {"v1.0": day("2026-12-01")}
    full = SourcePull(tasks=(task("A-1", source="jira", stage_value="v1.0"),), stage_dues=versions)
    first = evaluate(
        PROJECT,
        at("2026-11-19 18:00"),
        [SourceOutcome("jira", "jira", full, None, NOW), ok("gdrive")],
        None,
        {},
    )
    assert first.stages[0].due == day("2026-12-01")
    nothing_changed = ok("jira", complete=False)
    second = evaluate(PROJECT, NOW, [nothing_changed, ok("gdrive")], first, {})
    assert [(s.name, s.due) for s in second.stages] == [("v1.0", day("2026-12-01"))]
    failed_now = evaluate(PROJECT, NOW, [failed("jira"), ok("gdrive")], first, {})
    assert failed_now.stages[0].due == day("2026-12-01")
