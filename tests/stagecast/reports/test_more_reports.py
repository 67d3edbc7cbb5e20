"""Stage reports, risk alerts and the charter (SPEC §7, §8): goldens in both languages for both
audiences, what a client may see, late-by-N, periods, when a risk was raised, cadence words.

Regenerate the goldens with `STAGECAST_UPDATE_GOLDEN=1 .venv/bin/pytest tests/stagecast/reports`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from stagecast.evaluate import calendar_for
from stagecast.models import Message, RiskFlag, Snapshot
from stagecast.reports.context import (
    charter_context,
    risk_alert_context,
    stage_report_context,
)
from stagecast.reports.render import render_report
from tests.builders import at, day
from tests.stagecast.reports.scenario import (
    Scenario,
    charter_project,
    scenario_chart,
    stage_scenario,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("STAGECAST_UPDATE_GOLDEN") == "1"
LANGUAGES = ("zh-CN", "en")
AUDIENCES = ("client", "internal")
ZWSP = "\u200b"


def stage(s: Scenario, history: list[Snapshot], key: str, language: str, audience: str) -> Message:
    context = stage_report_context(
        s.project,
        s.snapshot,
        key,
        history,
        audience=audience,  # type: ignore[arg-type]
        language=language,
        calendar=s.calendar,
    )
    chart = scenario_chart(s)
    return render_report("stage_report", context, language=language, audience=audience, chart=chart)


def flag(s: Scenario, code: str, subject: str) -> RiskFlag:
    return next(f for f in s.snapshot.risks if f.ident == (code, subject))


def alert(
    s: Scenario, history: list[Snapshot], f: RiskFlag, language: str, audience: str
) -> Message:
    context = risk_alert_context(
        s.project,
        s.snapshot,
        f,
        history,
        audience=audience,  # type: ignore[arg-type]
        language=language,
        calendar=s.calendar,
    )
    return render_report("risk_alert", context, language=language, audience=audience)


def charter(language: str, audience: str, cron: str = "30 17 * * mon-fri") -> Message:
    project = charter_project(language, cron)
    context = charter_context(
        project,
        audience=audience,  # type: ignore[arg-type]
        language=language,
        calendar=calendar_for(project),
    )
    return render_report("charter", context, language=language, audience=audience)


@pytest.fixture(scope="module")
def scenarios() -> dict[str, tuple[Scenario, list[Snapshot]]]:
    return {language: stage_scenario(language) for language in LANGUAGES}


@pytest.fixture(scope="module")
def messages(
    scenarios: dict[str, tuple[Scenario, list[Snapshot]]],
) -> dict[tuple[str, str, str], Message]:
    found = {}
    for language in LANGUAGES:
        s, history = scenarios[language]
        for audience in AUDIENCES:
            found["stage_report", language, audience] = stage(
                s, history, "design", language, audience
            )
            blocked = flag(s, "blocked", "PORTAL-9")
            found["risk_alert", language, audience] = alert(s, history, blocked, language, audience)
            found["charter", language, audience] = charter(language, audience)
    return found


# --- golden files --------------------------------------------------------------------------

CASES = [
    (kind, language, audience, "md")
    for kind in ("stage_report", "risk_alert", "charter")
    for language in LANGUAGES
    for audience in AUDIENCES
] + [
    (kind, "en", "internal", fmt)
    for kind in ("stage_report", "risk_alert", "charter")
    for fmt in ("html", "txt")
]
FIELDS = {"md": "markdown", "txt": "text", "html": "html"}


@pytest.mark.parametrize(("kind", "language", "audience", "fmt"), CASES)
def test_golden(
    messages: dict[tuple[str, str, str], Message],
    kind: str,
    language: str,
    audience: str,
    fmt: str,
) -> None:
    rendered = getattr(messages[kind, language, audience], FIELDS[fmt])
    path = GOLDEN / f"{kind}.{audience}.{language}.{fmt}"
    if UPDATE:
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with STAGECAST_UPDATE_GOLDEN=1"
    assert rendered == path.read_text(encoding="utf-8"), f"{path.name} changed"


@pytest.mark.parametrize("kind", ["stage_report", "risk_alert", "charter"])
def test_every_format_renders_with_one_line_titles(
    messages: dict[tuple[str, str, str], Message], kind: str
) -> None:
    for language in LANGUAGES:
        for audience in AUDIENCES:
            m = messages[kind, language, audience]
            assert m.html and m.text and m.markdown and "\n" not in m.title
            assert all(section.startswith("## ") for section in m.sections[1:])
    assert (
        messages["stage_report", "zh-CN", "client"].title == "ACME 客户门户 · 阶段报告 · 设计评审"
    )
    assert messages["risk_alert", "en", "client"].title == (
        "ACME Customer Portal · Risk alert · High · Blocked"
    )
    assert messages["charter", "zh-CN", "client"].title == "ACME 客户门户 · 项目群约定"


# --- periods -------------------------------------------------------------------------------


def test_periods(
    messages: dict[tuple[str, str, str], Message],
    scenarios: dict[str, tuple[Scenario, list[Snapshot]]],
) -> None:
    assert messages["stage_report", "en", "client"].period == "design@2026-11-20"
    s, history = scenarios["en"]
    assert stage(s, history, "requirements", "en", "client").period == "requirements"
    assert messages["risk_alert", "en", "client"].period == "blocked:PORTAL-9@2026-11-20"
    assert messages["charter", "en", "client"].period == "once"
    with pytest.raises(KeyError):
        stage_report_context(
            s.project,
            s.snapshot,
            "nope",
            [],
            audience="client",
            language="en",
            calendar=s.calendar,
        )


# --- stage reports -------------------------------------------------------------------------


def test_late_by_working_days_across_a_weekend(
    scenarios: dict[str, tuple[Scenario, list[Snapshot]]],
) -> None:
    """Due Thursday 19 Nov, done Monday 23 Nov: Friday and Monday count, the weekend not."""
    s, history = scenarios["en"]

    def finished(due: str, on: str) -> Scenario:
        stages = tuple(
            replace(x, status="done", due=day(due), completed_on=day(on))
            if x.key == "design"
            else x
            for x in s.snapshot.stages
        )
        return replace(s, snapshot=replace(s.snapshot, stages=stages))

    def late_days(due: str, on: str) -> int | None:
        context = stage_report_context(
            s.project,
            finished(due, on).snapshot,
            "design",
            history,
            audience="client",
            language="en",
            calendar=s.calendar,
        )
        return context.late_days

    assert late_days("2026-11-19", "2026-11-23") == 2
    assert late_days("2026-11-20", "2026-11-22") == 1  # a Sunday completion: at least 1
    assert late_days("2026-11-20", "2026-11-20") == 0
    m = stage(finished("2026-11-19", "2026-11-23"), history, "design", "en", "client")
    assert m.period == "design"
    assert "Finished 23 Nov, late by 2 working days (due 19 Nov)." in m.markdown
    zh, zh_history = scenarios["zh-CN"]
    zh_done = replace(
        zh,
        snapshot=replace(
            zh.snapshot,
            stages=tuple(
                replace(x, status="done", due=day("2026-11-19"), completed_on=day("2026-11-23"))
                if x.key == "design"
                else x
                for x in zh.snapshot.stages
            ),
        ),
    )
    assert (
        "比计划（11月19日）晚 2 个工作日"
        in stage(zh_done, zh_history, "design", "zh-CN", "client").markdown
    )
    on_time = stage(s, history, "requirements", "en", "client").markdown
    assert "Finished 5 Nov, on time (due 6 Nov)." in on_time


@pytest.mark.parametrize("language", LANGUAGES)
def test_client_stage_report_has_no_names_and_no_internal_task(
    scenarios: dict[str, tuple[Scenario, list[Snapshot]]], language: str
) -> None:
    s, history = scenarios[language]
    names = {"zh-CN": ["王磊", "赵强", "陈晨"], "en": ["Wang Lei", "Zhao Qiang", "Chen Chen"]}
    hidden = {
        "build": [*names[language], "PORTAL-20"],  # done, internal
        # the next stage's internal task; a stale flag carried forward
        "design": ["PORTAL-14", {"zh-CN": "长期未更新", "en": "No recent update"}[language]],
    }
    for key, words in hidden.items():
        for fmt in ("markdown", "text", "html"):
            client = getattr(stage(s, history, key, language, "client"), fmt)
            team = getattr(stage(s, history, key, language, "internal"), fmt)
            for word in words:
                assert word not in client, word
                assert word in team, word
            assert "PORTAL-21" in client if key == "build" else "PORTAL-9" in client


def test_stage_report_content(scenarios: dict[str, tuple[Scenario, list[Snapshot]]]) -> None:
    s, history = scenarios["en"]
    build = stage_report_context(
        s.project, s.snapshot, "build", history, audience="internal", language="en",
        calendar=s.calendar,
    )  # fmt: skip
    # PORTAL-21 was blocked only in yesterday's snapshot, and is done now.
    assert [(p.task.key, p.done) for p in build.problems] == [("PORTAL-21", True)]
    assert build.next_stage is None and build.span_start is None
    design = stage_report_context(
        s.project, s.snapshot, "design", history, audience="client", language="en",
        calendar=s.calendar,
    )  # fmt: skip
    assert (design.span_start, design.span_end) == (day("2026-11-05"), day("2026-11-20"))
    assert [(p.task.key, p.resolution) for p in design.problems] == [
        ("PORTAL-9", None),
        ("PORTAL-10", "Fixed"),
    ]
    assert [(d.name, d.present) for d in design.deliverables] == [("UI mock-ups", False)]
    assert {r.stage for r in design.risks} == {"Build"}
    assert design.next_stage is not None and design.next_stage.stage.key == "build"
    assert "PORTAL-14" not in [t.key for t in design.next_stage.open_tasks.items]
    no_history = stage_report_context(
        s.project, s.snapshot, "build", [], audience="internal", language="en",
        calendar=s.calendar,
    )  # fmt: skip
    assert no_history.problems == ()


# --- risk alerts ---------------------------------------------------------------------------


def test_raised_date_is_the_start_of_the_latest_unbroken_run(
    scenarios: dict[str, tuple[Scenario, list[Snapshot]]],
) -> None:
    s, history = scenarios["en"]
    overdue = flag(s, "overdue", "PORTAL-8")
    since = history[0]
    assert overdue.ident in {f.ident for f in since.risks}

    def at_day(text: str, risks: tuple[RiskFlag, ...]) -> Snapshot:
        return replace(since, as_of=at(f"{text} 17:30"), risks=risks)

    gap = at_day("2026-11-17", ())
    older = at_day("2026-11-16", (overdue,))
    later = at_day("2026-11-21", ())  # after the snapshot: ignored
    for hist, raised in [
        ([since, gap, older, later], "2026-11-19"),  # any order; the gap breaks the run
        ([older, since], "2026-11-16"),
        ([], "2026-11-20"),
    ]:
        context = risk_alert_context(
            s.project, s.snapshot, overdue, hist, audience="client", language="en",
            calendar=s.calendar,
        )  # fmt: skip
        assert context.raised == day(raised)
        assert context.period == f"overdue:PORTAL-8@{raised}"
    m = alert(s, [older, since], overdue, "en", "client")
    assert "Raised on 16 Nov." in m.markdown


@pytest.mark.parametrize("language", LANGUAGES)
def test_alert_about_an_internal_task_does_not_name_it_to_a_client(
    scenarios: dict[str, tuple[Scenario, list[Snapshot]]], language: str
) -> None:
    s, history = scenarios[language]
    hidden = RiskFlag("blocked", "high", "PORTAL-14", None, "blocked")
    title = {"zh-CN": "代码评审环境搭建", "en": "Set up the code review environment"}[language]
    words = {"zh-CN": "一项内部任务", "en": "an internal task"}[language]
    client = alert(s, history, hidden, language, "client")
    team = alert(s, history, hidden, language, "internal")
    for fmt in ("markdown", "text", "html"):
        assert title not in getattr(client, fmt) and "PORTAL-14" not in getattr(client, fmt)
        assert words in getattr(client, fmt)
        assert title in getattr(team, fmt) and "王磊" not in getattr(client, fmt)
    stage_name = {"zh-CN": "开发", "en": "Build"}[language]
    assert stage_name in client.markdown  # what it threatens: the task's stage


def test_alert_threatens_a_stage_or_names_a_source(
    scenarios: dict[str, tuple[Scenario, list[Snapshot]]],
) -> None:
    s, history = scenarios["en"]
    late = alert(s, history, flag(s, "stage_late", "Design review"), "en", "client")
    assert "due 18 Nov, forecast 27 Nov" in late.markdown
    down = replace(s.snapshot, risks=(*s.snapshot.risks, history[0].risks[-1]))
    source = next(f for f in history[0].risks if f.code == "source_unavailable")
    context = risk_alert_context(
        s.project, down, source, history, audience="internal", language="en",
        calendar=s.calendar,
    )  # fmt: skip
    assert context.source is not None and context.source.name == "gdrive"
    m = render_report("risk_alert", context, language="en", audience="internal")
    assert "Source: gdrive · last read 20 Nov 17:30" in m.markdown
    assert context.raised == day("2026-11-19")


# --- charter -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cron", "zh", "en"),
    [
        ("30 17 * * mon-fri", "工作日 17:30", "weekdays at 17:30"),
        ("0 9 * * *", "每天 09:00", "every day at 09:00"),
        ("0 9 * * MON,wed-fri", "周一、周三至周五 09:00", "Monday, Wednesday–Friday at 09:00"),
        ("0 18 * * 1-5", "工作日 18:00", "weekdays at 18:00"),
        ("0 10 * * sat,sun", "周六至周日 10:00", "Saturday–Sunday at 10:00"),
        ("*/15 9 * * *", "按计划 */15 9 * * *", "on the schedule */15 9 * * *"),
        ("0 9 1 * *", "按计划 0 9 1 * *", "on the schedule 0 9 1 * *"),
    ],
)
def test_charter_cadence_in_words(cron: str, zh: str, en: str) -> None:
    assert f"项目日报：{zh}" in charter("zh-CN", "client", cron).text
    assert f"Daily update: {en}" in charter("en", "client", cron).text


def test_charter_without_charter_config() -> None:
    project = charter_project("en").model_copy(update={"charter": None})
    context = charter_context(
        project, audience="client", language="en", calendar=calendar_for(project)
    )
    m = render_report("charter", context, language="en", audience="client")
    assert "Purpose" not in m.markdown and "Response time" not in m.markdown
    assert "Monday–Friday 09:00–18:00 (public holidays of China excepted)" in m.markdown
    assert "when a new risk of high severity or higher appears" in m.markdown


def test_the_charter_says_the_teams_own_words_whole() -> None:
    """Config text is not source text: a long scope is the team's choice, not a flood."""
    project = charter_project("en")
    assert project.charter is not None
    scope = "Design and build of membership, points mall and orders. " * 6
    charter_config = project.charter.model_copy(update={"scope": scope})
    project = project.model_copy(update={"charter": charter_config})
    context = charter_context(
        project, audience="client", language="en", calendar=calendar_for(project)
    )
    m = render_report("charter", context, language="en", audience="client")
    assert scope.strip() in m.markdown and scope.strip() in m.text


# --- hostile source text -------------------------------------------------------------------


@pytest.mark.parametrize("audience", AUDIENCES)
def test_hostile_source_text_is_escaped_in_every_report(audience: str) -> None:
    from tests.stagecast.reports.test_render import HOSTILE, MD, PINGS, hostile_scenario, parse

    s = hostile_scenario()
    key = s.snapshot.stages[0].key
    problems = tuple(
        replace(t, type="Bug", last_comment="<!channel> @all") for t in s.snapshot.tasks
    )
    s = replace(s, snapshot=replace(s.snapshot, tasks=problems))
    rendered = [stage(s, [s.since], key, "en", audience)]
    rendered += [alert(s, [], f, "en", audience) for f in s.snapshot.risks]
    for m in rendered:
        for text in (m.markdown, m.text, m.title):
            assert not PINGS.search(text)
        tree = parse(MD.render(m.markdown))
        assert {"script", "img", "at", "b", "i"}.isdisjoint(tree.tags)
        assert all(h.startswith("https://j.example/") for h in tree.hrefs), tree.hrefs
        assert m.html is not None
        html = parse(m.html)
        assert {"script", "at", "b", "i"}.isdisjoint(html.tags)
        assert html.tags.count("img") == len(m.images)  # only the stage report's burn-up chart
    delivered = rendered[0].markdown.replace(ZWSP, "")
    assert "Problems and how they were solved" in delivered
    assert all(t.replace("\n", " ") in "".join(parse(MD.render(delivered)).text) for t in HOSTILE)


@pytest.mark.parametrize("key", ["design", None])
def test_a_stage_report_lists_its_deliverables_with_or_without_a_key(key: str | None) -> None:
    """The deliverables checklist comes from the stage's own figures (`required_docs` travels
    with `StageProgress`): a stage configured without `key:` used to show none."""
    from stagecast.config import ProjectConfig
    from stagecast.evaluate import SourceOutcome, evaluate
    from stagecast.models import Document, SourcePull
    from tests.builders import task

    stage = {"name": "Design review", "match": "design", "required_docs": ["UI spec", "API doc"]}
    project = ProjectConfig.model_validate(
        {
            "key": "acme",
            "name": "Acme",
            "timezone": "Asia/Shanghai",
            "sources": [{"type": "trello_export", "path": "board.json"}],
            "stages": [{**stage, **({"key": key} if key else {})}],
        },
        context={"check_files": False},
    )
    now = at("2026-11-20 18:00")
    pull = SourcePull(
        tasks=(task("D1", "done", stage_value="design", done_at=at("2026-11-19 10:00")),),
        documents=(Document("f1", "UI spec v2", "drive", "https://drive.example/f1"),),
    )
    snapshot = evaluate(project, now, [SourceOutcome("board", "trello", pull, None, now)], None, {})
    [progress] = snapshot.stages
    report = stage_report_context(
        project, snapshot, progress.key, [], audience="client", language="en",
        calendar=calendar_for(project),
    )  # fmt: skip
    assert [(d.name, d.present) for d in report.deliverables] == [
        ("UI spec", True),
        ("API doc", False),
    ]


def test_the_charter_tells_the_weekly_update_and_the_wrap_up() -> None:
    base = charter_project("en")
    reports = base.reports.model_copy(
        update={
            "weekly_update": base.reports.daily_update.model_copy(  # type: ignore[union-attr]
                update={"cron": "0 17 * * fri"}
            ),
            "project_report": base.reports.stage_report,
        }
    )
    project = base.model_copy(update={"reports": reports})
    for language, weekly, wrap_up in [
        ("en", "Weekly update: Friday at 17:00", "Project wrap-up: when the last stage completes"),
        ("zh-CN", "周报：周五 17:00", "项目总结：最后一个阶段完成时"),
    ]:
        context = charter_context(
            project, audience="client", language=language, calendar=calendar_for(project)
        )
        text = render_report("charter", context, language=language, audience="client").text
        assert weekly in text and wrap_up in text
