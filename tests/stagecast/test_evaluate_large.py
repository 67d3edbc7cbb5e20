"""A large project evaluates exactly as the plain rules say, written out the slow, obvious way.

evaluate() groups tasks once (by source, by stage) and looks each task's values up instead of
scanning every stage for every task; these tests hold it to a straightforward reference on a
few thousand tasks over two sources, configured and discovered stages, full and incremental
pulls and a failed source, so a faster evaluate can never mean a different answer.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence
from datetime import timedelta

import pytest

from stagecast.config import ProjectConfig
from stagecast.evaluate import SourceOutcome, calendar_for, evaluate, plan_stages, rules_for
from stagecast.models import Document, Snapshot, SourcePull, StagePlan, Task
from stagecast.progress import stage_progress
from stagecast.risks import RiskInputs, RiskRules, raise_flags
from tests.builders import at, task, weekdays

STAGES = ("需求", "设计", "开发", "测试", "UAT", "上线")
BEFORE, NOW = at("2026-11-19 18:00"), at("2026-11-20 18:00")


def project(configured: bool) -> ProjectConfig:
    """Six stages due from October to December, each with required documents; or none."""
    entry: dict[str, object] = {
        "key": "big",
        "name": "Big",
        "timezone": "Asia/Shanghai",
        "calendar": {"country": "CN"},
        "sources": [
            {"type": "jira", "url": "https://acme.example", "token": "env:T", "jql": "project = A"},
            {"type": "trello", "board": "b", "key": "env:K", "token": "env:T"},
            {"type": "gdrive", "folder": "f", "credentials": "/dev/null"},
        ],
    }
    if configured:
        entry["stages"] = [
            {
                "name": name,
                "match": f"v{n}",
                "due": f"2026-{10 + n // 3:02d}-{1 + 5 * n:02d}",
                "required_docs": [f"文档{n}", f"Doc {n}"],
            }
            for n, name in enumerate(STAGES)
        ]
    return ProjectConfig.model_validate(entry)


def built_tasks(count: int, source: str, configured: bool, seed: int) -> list[Task]:
    """Tasks in every state, with due dates, owners, blocks and (often several) stage values."""
    rnd = random.Random(seed)
    made = []
    for n in range(count):
        state = rnd.choice(["todo", "in_progress", "done"])
        first, second = rnd.randrange(8), rnd.randrange(8)
        values = (f"v{first}", f"v{second}") if configured else (f"S{rnd.randrange(40)}",)
        fields: dict[str, object] = {
            "source": source,
            "id": f"{source}-{n}",
            "stage_values": values if rnd.random() < 0.9 else (),
            "assignee": rnd.choice([None, "张三", "Li"]),
            "due": (NOW - timedelta(days=rnd.randrange(-15, 25))).date()
            if rnd.random() < 0.6
            else None,
            "updated": NOW - timedelta(days=rnd.randrange(30)),
            "blocked": rnd.random() < 0.05,
        }
        if state == "done":
            fields["done"] = (NOW - timedelta(days=rnd.randrange(40))).strftime("%Y-%m-%d")
        made.append(task(f"{source.upper()}-{n + 1}", state, **fields))
    return made


def pulled(
    name: str,
    tasks: Sequence[Task] = (),
    docs: Sequence[Document] = (),
    *,
    complete: bool = True,
    removed: Sequence[str] = (),
) -> SourceOutcome:
    pull = SourcePull(
        tasks=tuple(tasks),
        documents=tuple(docs),
        complete=complete,
        removed=tuple(removed),
        cursor="c",
    )
    return SourceOutcome(name, name, pull, None, NOW)


# --- the reference: the rules as SPEC words them, one scan per question -------------------


def reference_stage(task: Task, plans: list[StagePlan], configured: bool) -> str | None:
    """Configured: the first stage in config order matching any value; else the first value's."""
    if not task.stage_values:
        return None
    if configured:
        return next((p.name for p in plans if p.match in task.stage_values), None)
    return next((p.name for p in plans if p.match == task.stage_values[0]), None)


def check_against_reference(
    project: ProjectConfig, snap: Snapshot, documents: Sequence[Document]
) -> None:
    """Every figure of `snap` as the reference computes it from the snapshot's own tasks."""
    configured = project.stages is not None
    calendar, rules = calendar_for(project), rules_for(project)
    today = calendar.local_date(snap.as_of)
    plans = plan_stages(project, snap.tasks, {})
    assert [t.stage for t in snap.tasks] == [
        reference_stage(t, plans, configured) for t in snap.tasks
    ]
    expected_stages = tuple(
        stage_progress(
            plan,
            [t for t in snap.tasks if t.stage == plan.name],
            calendar,
            today,
            rules.forecast_window_days,
            rules.at_risk_horizon_days,
        )
        for plan in plans
    )
    assert snap.stages == expected_stages
    for status in snap.sources:
        assert status.tasks == sum(1 for t in snap.tasks if t.source == status.name)
    missing = {f.subject for f in snap.risks if f.code == "missing_deliverable"}
    names = [d.name.casefold() for d in documents]
    for plan, stage in zip(plans, snap.stages, strict=True):
        due_soon = plan.due is not None and plan.due <= today + timedelta(days=3)
        for doc in plan.required_docs:
            absent = not any(doc.casefold() in name for name in names)
            shown = f"{plan.name}/{doc}" in missing
            assert shown == (absent and (stage.status == "done" or due_soon))


@pytest.mark.parametrize("configured", [True, False], ids=["configured", "discovered"])
def test_a_large_project_evaluates_as_the_plain_rules_say(configured: bool) -> None:
    big = project(configured)
    jira = built_tasks(3000, "jira", configured, seed=1)
    board = built_tasks(1500, "trello", configured, seed=2)
    docs = [Document("d1", "文档0 终稿.docx", "gdrive"), Document("d2", "DOC 3 v2.pdf", "gdrive")]
    first = evaluate(
        big,
        BEFORE,
        [pulled("jira", jira), pulled("trello", board), pulled("gdrive", (), docs)],
        None,
        {},
    )
    check_against_reference(big, first, docs)

    # An hour later: a tenth of Jira's tasks changed, three removed, one new; Trello failed.
    changed = [dataclasses.replace(t, state="done", done_at=NOW) for t in jira[::10]]
    added = built_tasks(1, "jira", configured, seed=3)[0]
    new = dataclasses.replace(added, id="jira-new", key="JIRA-NEW")
    failed = SourceOutcome("trello", "trello", None, "HTTP 503", BEFORE)
    outcomes = [
        pulled("jira", [*changed, new], complete=False, removed=[t.id for t in jira[-3:]]),
        failed,
        pulled("gdrive", (), docs),
    ]
    second = evaluate(big, NOW, outcomes, first, {})
    check_against_reference(big, second, docs)
    assert len(second.tasks) == 3000 - 3 + 1 + 1500
    assert [t for t in second.tasks if t.source == "trello"] == list(first.tasks[3000:])
    assert {f.subject for f in second.risks if f.code == "source_unavailable"} == {"trello"}


def test_a_required_document_is_found_in_any_file_name_whatever_the_case() -> None:
    wanted = ("a\nb", "ab", "c")
    plans = [StagePlan("Build", "build", "Build", NOW.date() - timedelta(days=20), wanted)]
    stages = [stage_progress(plans[0], [], weekdays(), NOW.date(), 10, 10)]

    def missing(*names: str) -> list[str]:
        flags = raise_flags(
            RiskInputs(
                today=NOW.date(),
                calendar=weekdays(),
                rules=RiskRules(),
                tasks=[],
                stages=stages,
                plans=plans,
                documents=[Document(str(n), name, "drive") for n, name in enumerate(names)],
                baselines={},
                failed_sources={},
            )
        )
        return sorted(f.document or "" for f in flags if f.code == "missing_deliverable")

    everything = sorted(wanted)
    assert missing() == everything
    assert missing("xa", "bx") == everything  # never matched across two names
    assert missing("x\na", "b") == everything
    assert missing("XA\nBX", "C.txt", "cab") == []  # a name may hold a newline itself
