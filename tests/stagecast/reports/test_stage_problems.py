"""A stage report that explains a slip (SPEC §7 "problems met and how they were solved"): the
risks raised and cleared during the stage, what drove the slip of a late stage, the minutes'
open action items; "no problems were met" only when true. Goldens of a stage that finished
3 working days late, in both languages for both audiences.

Regenerate the goldens with `STAGECAST_UPDATE_GOLDEN=1 .venv/bin/pytest tests/stagecast/reports`.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from stagecast.models import Message, MinuteItem, RiskFlag, Snapshot
from stagecast.reports.context import StageReport, daily_update_context, stage_report_context
from stagecast.reports.context.problems import stage_problems
from stagecast.reports.render import render_report
from tests.builders import day
from tests.stagecast.reports.scenario import Scenario, scenario
from tests.stagecast.reports.slip_scenario import slip_scenario

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("STAGECAST_UPDATE_GOLDEN") == "1"
LANGUAGES = ("zh-CN", "en")
AUDIENCES = ("client", "internal")
FIELDS = {"md": "markdown", "txt": "text", "html": "html"}
ZWSP = "\u200b"


@pytest.fixture(scope="module")
def slipped() -> dict[str, tuple[Scenario, list[Snapshot]]]:
    return {language: slip_scenario(language) for language in LANGUAGES}


def context(
    s: Scenario, history: list[Snapshot], audience: str = "internal", key: str = "design"
) -> StageReport:
    return stage_report_context(
        s.project,
        s.snapshot,
        key,
        history,
        audience=audience,  # type: ignore[arg-type]
        language=s.project.language,
        calendar=s.calendar,
    )


def render(s: Scenario, history: list[Snapshot], audience: str, key: str = "design") -> Message:
    c = context(s, history, audience, key)
    return render_report("stage_report", c, language=c.language, audience=audience)


# --- golden files --------------------------------------------------------------------------

CASES = [
    (language, audience, fmt)
    for language in LANGUAGES
    for audience in AUDIENCES
    for fmt in ("md", "txt")
] + [("en", "internal", "html"), ("zh-CN", "client", "html")]


@pytest.mark.parametrize(("language", "audience", "fmt"), CASES)
def test_golden_of_a_late_stage(
    slipped: dict[str, tuple[Scenario, list[Snapshot]]], language: str, audience: str, fmt: str
) -> None:
    rendered = getattr(render(*slipped[language], audience), FIELDS[fmt])
    path = GOLDEN / f"stage_report_late.{audience}.{language}.{fmt}"
    if UPDATE:
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with STAGECAST_UPDATE_GOLDEN=1"
    assert rendered == path.read_text(encoding="utf-8"), f"{path.name} changed"


# --- what the problems section says ----------------------------------------------------------


def test_risks_raised_and_cleared_during_the_stage(
    slipped: dict[str, tuple[Scenario, list[Snapshot]]],
) -> None:
    c = context(*slipped["en"])
    assert c.late_days == 3 and not c.no_problems and not c.problems_internal_only
    seen = [
        (e.risk.code, e.risk.subject, str(e.raised), e.cleared and str(e.cleared), e.cleared_by)
        for e in c.risks_met.items
    ]
    assert seen == [
        ("stage_at_risk", "Design review", "2026-11-09", "2026-11-19", "became_late"),
        ("stale", "PORTAL-7", "2026-11-10", "2026-11-12", "reassigned"),
        ("blocked", "PORTAL-9", "2026-11-11", "2026-11-16", "unblocked"),
        ("missing_deliverable", "Design review", "2026-11-16", "2026-11-19", "document_added"),
        ("unassigned", "PORTAL-22", "2026-11-16", "2026-11-17", "assigned"),
        ("scope_creep", "Design review", "2026-11-17", None, None),
        ("blocked", "PORTAL-23", "2026-11-18", "2026-11-20", "done"),
        ("stage_late", "Design review", "2026-11-19", "2026-11-23", "stage_done"),
        ("overdue", "PORTAL-8", "2026-11-19", "2026-11-20", "done"),
    ]  # fmt: skip
    # The task as it was when the risk ended: PORTAL-7 was Wang Lei's by then.
    stale = next(e for e in c.risks_met.items if e.risk.code == "stale")
    assert stale.risk.task is not None and stale.risk.task.assignee == "Wang Lei"


def test_what_drove_the_slip(slipped: dict[str, tuple[Scenario, list[Snapshot]]]) -> None:
    slip = context(*slipped["en"]).slip
    assert slip is not None
    assert [(x.task.key, str(x.finished), x.days_late) for x in slip.finished_late.items] == [
        ("PORTAL-9", "2026-11-23", 3),
        ("PORTAL-7", "2026-11-20", 2),
        ("PORTAL-8", "2026-11-20", 2),
        ("PORTAL-23", "2026-11-20", 2),
    ]
    assert not slip.still_open  # the stage is done
    assert [(b.task.key, str(b.since), str(b.until), b.days) for b in slip.blocked.items] == [
        ("PORTAL-9", "2026-11-11", "2026-11-16", 3),
        ("PORTAL-23", "2026-11-18", "2026-11-20", 2),
    ]
    assert (slip.baseline, slip.final) == (6, 8)
    assert [(a.task.key, str(a.added)) for a in slip.added.items] == [
        ("PORTAL-22", "2026-11-11"),
        ("PORTAL-23", "2026-11-17"),
    ]


def test_a_task_named_above_is_named_briefly(
    slipped: dict[str, tuple[Scenario, list[Snapshot]]],
) -> None:
    """PORTAL-9 is a problem, a risk, late and blocked longest: named in full once."""
    c = context(*slipped["en"])
    assert c.slip is not None
    full = next(p.task for p in c.problems if p.task.key == "PORTAL-9")
    again = [
        *(e.risk.task for e in c.risks_met.items if e.risk.subject == "PORTAL-9"),
        *(x.task for x in c.slip.finished_late.items if x.task.key == "PORTAL-9"),
        *(x.task for x in c.slip.blocked.items if x.task.key == "PORTAL-9"),
    ]
    assert full.title == "Design the SMS gateway integration" and full.assignee == "Zhao Qiang"
    assert [t.title for t in again if t is not None] == ["Design the SMS gate…"] * 3
    first_late = c.slip.finished_late.items[1]  # PORTAL-7: named before only by its stale risk
    assert first_late.task.key == "PORTAL-7" and first_late.named_above


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_client_sees_no_names_no_internal_task_and_no_internal_risk(
    slipped: dict[str, tuple[Scenario, list[Snapshot]]], language: str
) -> None:
    s, history = slipped[language]
    client = context(s, history, "client")
    assert [
        e.risk.code for e in client.risks_met.items if e.risk.code in ("stale", "unassigned")
    ] == []
    assert "PORTAL-23" not in [e.risk.subject for e in client.risks_met.items]
    assert client.slip is not None and (client.slip.baseline, client.slip.final) == (6, 8)
    assert [a.task.key for a in client.slip.added.items] == ["PORTAL-22"]  # counts stay whole
    assert all(a.owner is None for a in client.action_items.items)
    words = {
        "zh-CN": ["王磊", "赵强", "李娜", "陈晨", "设计评审内部预演", "长期未更新", "无负责人"],
        "en": ["Wang Lei", "Zhao Qiang", "Li Na", "Chen Chen", "Internal dry run", "Unassigned"],
    }[language]
    for fmt in FIELDS.values():
        shown = getattr(render(s, history, "client"), fmt).replace(ZWSP, "")
        team = getattr(render(s, history, "internal"), fmt).replace(ZWSP, "")
        for word in words:
            assert word not in shown, (fmt, word)
            assert word in team, (fmt, word)


def test_a_late_open_stage_lists_what_is_still_open() -> None:
    s = scenario("en")
    c = stage_report_context(
        s.project, s.snapshot, "design", [s.since], audience="internal", language="en",
        calendar=s.calendar,
    )  # fmt: skip
    assert c.slip is not None and c.late_days is None
    assert [t.task.key for t in c.slip.still_open.items] == ["PORTAL-8", "PORTAL-9"]
    assert [x.task.key for x in c.slip.finished_late.items] == ["PORTAL-7"]
    open_risks = [(e.risk.code, e.risk.subject) for e in c.risks_met.items if e.cleared is None]
    assert ("stage_late", "Design review") in open_risks and ("blocked", "PORTAL-9") in open_risks


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_problems_is_said_only_of_an_on_time_stage_that_never_had_a_risk(
    language: str,
) -> None:
    s = scenario(language)
    none_said = {"zh-CN": "本阶段没有遇到问题。", "en": "No problems were met in this stage."}
    # Requirements finished on time, and no snapshot held a risk about it.
    requirements = context(s, [s.since], key="requirements")
    assert requirements.no_problems and not requirements.risks_met
    assert none_said[language] in render(s, [s.since], "client", "requirements").markdown
    # The same stage with one risk in its past: no longer "no problems".
    past = replace(
        s.since,
        as_of=s.since.as_of.replace(day=4),
        risks=(RiskFlag("overdue", "high", "PORTAL-4", s.snapshot.stages[0].name, "due"),),
    )
    troubled = context(s, [past, s.since], key="requirements")
    assert not troubled.no_problems and [e.risk.code for e in troubled.risks_met.items] == [
        "overdue"
    ]
    for fmt in FIELDS.values():
        assert none_said[language] not in getattr(
            render(s, [past, s.since], "client", "requirements"), fmt
        )


def test_a_stage_whose_only_problems_were_internal_says_so_to_a_client() -> None:
    s = scenario("en")
    stale = RiskFlag("stale", "medium", "PORTAL-4", "Requirements", "no update for 9 days")
    past = replace(s.since, as_of=s.since.as_of.replace(day=4), risks=(stale,))
    client = context(s, [past, s.since], "client", key="requirements")
    team = context(s, [past, s.since], "internal", key="requirements")
    assert client.problems_internal_only and not client.no_problems and not client.risks_met
    assert not team.problems_internal_only and team.risks_met
    shown = render(s, [past, s.since], "client", "requirements")
    for fmt in FIELDS.values():
        text = getattr(shown, fmt)
        assert "Only internal matters came up in this stage" in text
        assert "No problems were met" not in text


def test_stage_problems_is_the_same_story_for_any_report(
    slipped: dict[str, tuple[Scenario, list[Snapshot]]],
) -> None:
    """The wrap-up reuses `stage_problems`: it takes the store's history as is, the reported
    snapshot included, in any order."""
    s, history = slipped["en"]
    once = stage_problems(s.snapshot, "design", history, audience="client", calendar=s.calendar)
    stored = [*reversed(history), s.snapshot]
    again = stage_problems(s.snapshot, "design", stored, audience="client", calendar=s.calendar)
    assert once == again
    alone = stage_problems(s.snapshot, "design", [], audience="client", calendar=s.calendar)
    assert [e.risk.code for e in alone.risks.items] == ["scope_creep"]  # open now, since today
    assert alone.slip is not None and not alone.slip.blocked and not alone.slip.added


# --- action items ----------------------------------------------------------------------------


def test_open_action_items_in_the_teams_daily_update_only() -> None:
    s = scenario("en")

    def items(audience: str) -> list[tuple[str, str | None, str | None, bool]]:
        c = daily_update_context(
            s.project, s.snapshot, s.since, audience=audience, language="en",  # type: ignore[arg-type]
            calendar=s.calendar,
        )  # fmt: skip
        return [(a.text, a.owner, a.due and str(a.due), a.overdue) for a in c.action_items.items]

    assert items("internal") == [
        ("Confirm the SMS vendor's test account", "Li Na", "2026-11-18", True),
        ("Send the payment integration plan", "Zhao Qiang", "2026-11-27", False),
    ]  # the ticked-off one is not there
    assert items("client") == []


def test_an_action_item_carried_to_later_minutes_counts_once_as_they_have_it() -> None:
    s = scenario("en")
    item = next(m for m in s.snapshot.minutes if m.kind == "action" and m.due == day("2026-11-18"))
    carried = replace(item, document="Weekly meeting 2026-11-19", date=day("2026-11-19"))
    ticked = replace(carried, done=True)
    undated = MinuteItem("action", "Book the UAT room", "Notes", None, None)

    def texts(*extra: MinuteItem) -> list[tuple[str, str]]:
        snapshot = replace(s.snapshot, minutes=(*s.snapshot.minutes, *extra))
        c = daily_update_context(
            s.project, snapshot, s.since, audience="internal", language="en",
            calendar=s.calendar,
        )  # fmt: skip
        return [(a.text, a.document) for a in c.action_items.items]

    assert ("Confirm the SMS vendor's test account", "Weekly meeting 2026-11-19") in texts(carried)
    assert len(texts(carried)) == 2
    assert "Confirm the SMS vendor's test account" not in [t for t, _ in texts(carried, ticked)]
    assert texts(undated)[-1] == ("Book the UAT room", "Notes")  # no due date: last


def test_a_stage_report_shows_the_action_items_of_its_span(
    slipped: dict[str, tuple[Scenario, list[Snapshot]]],
) -> None:
    s, history = slipped["en"]
    requirements = context(s, history, key="requirements")
    design = context(s, history)
    assert not requirements.action_items  # its span ended on 5 Nov, before any minutes
    assert [(a.owner, str(a.due), a.overdue) for a in design.action_items.items] == [
        ("Zhao Qiang", "2026-11-16", True),
        ("Li Na", "2026-11-25", False),
    ]
    m = render(s, history, "internal")
    assert "Confirm the SMS vendor's test account (Zhao Qiang) · **was due 16 Nov**" in m.markdown


@pytest.mark.parametrize("audience", AUDIENCES)
def test_hostile_action_items_are_escaped(audience: str) -> None:
    from tests.stagecast.reports.test_render import MD, PINGS, parse

    s = scenario("en")
    hostile = MinuteItem(
        "action", "<script>x</script> [click](https://evil.example) @all", "<b>notes</b>",
        "javascript:alert(1)", day("2026-11-20"), owner="<!channel>", due=day("2026-11-25"),
    )  # fmt: skip
    snapshot = replace(s.snapshot, minutes=(hostile,))
    c = daily_update_context(
        s.project, snapshot, s.since, audience=audience, language="en",  # type: ignore[arg-type]
        calendar=s.calendar,
    )  # fmt: skip
    m = render_report("daily_update", c, language="en", audience=audience)
    story = stage_report_context(
        s.project, snapshot, "design", [s.since], audience=audience, language="en",  # type: ignore[arg-type]
        calendar=s.calendar,
    )  # fmt: skip
    shown = [m, render_report("stage_report", story, language="en", audience=audience)]
    for message in shown:
        for text in (message.markdown, message.text):
            assert not PINGS.search(text)
        tree = parse(MD.render(message.markdown))
        assert {"script", "b"}.isdisjoint(tree.tags)
        assert not any("evil" in h or "javascript" in h for h in tree.hrefs), tree.hrefs
        assert message.html is not None
        html = parse(message.html)
        assert {"script", "b"}.isdisjoint(html.tags)
        assert not any("javascript" in h for h in html.hrefs)
    assert "click" in shown[1].markdown  # the words are there, the link is not
