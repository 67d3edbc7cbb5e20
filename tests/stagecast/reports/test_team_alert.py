"""Team alerts: a failed or crashed run and an expired approval, told to the team in its
language, with source text that cannot ping anyone or change the message's structure."""

from __future__ import annotations

import re

import pytest

from stagecast.evaluate import calendar_for
from stagecast.models import Message
from stagecast.reports.escape import clip
from stagecast.reports.render import TEXT_LIMITS, render_report
from stagecast.reports.team_alert import RunProblem, WaitedTooLong, team_alert_context
from tests.builders import at
from tests.stagecast.reports.scenario import charter_project
from tests.stagecast.reports.test_render import english_fragments

RUN = RunProblem(
    flow="sync",
    run_name="sync-acme-portal-now",
    state="failed",
    reason="acme-portal: source jira unavailable: HTTP 503 after 5 tries",
    link="http://127.0.0.1:4200/runs/flow-run/0f5b",
)
WAIT = WaitedTooLong("daily_update", "2026-11-20", "client-group", "d-7f3a9c", 24)


def render(language: str, **about: object) -> Message:
    project = charter_project(language, "30 17 * * mon-fri")
    context = team_alert_context(
        project,
        at("2026-11-21 09:00"),
        language=language,
        calendar=calendar_for(project),
        **about,  # type: ignore[arg-type]
    )
    return render_report("team_alert", context, language=language, audience="internal")


def test_a_failed_run_says_flow_run_reason_and_links_to_the_ui() -> None:
    en = render("en", run=RUN)
    assert en.title.endswith("· Run failed · sync")
    assert "[sync-acme-portal-now](http://127.0.0.1:4200/runs/flow-run/0f5b)" in en.markdown
    assert "source jira unavailable: HTTP 503 after 5 tries" in en.markdown
    assert en.html is not None and 'href="http://127.0.0.1:4200/runs/flow-run/0f5b"' in en.html
    assert "<http://127.0.0.1:4200/runs/flow-run/0f5b>" in en.text
    zh = render("zh-CN", run=RUN)
    assert "运行失败" in zh.title and "原因：" in zh.markdown and "如何处理" in zh.markdown


def test_a_crash_is_called_a_crash() -> None:
    crashed = render("en", run=RunProblem("daily-update", "r", "crashed", "exit code -9"))
    assert "Run crashed" in crashed.title and "exit code -9" in crashed.markdown


def test_an_expired_approval_says_what_waited_how_long_and_what_to_do() -> None:
    en = render("en", approval=WAIT)
    assert en.title.endswith("· Approval expired · Daily update")
    assert (
        "The Daily update (2026-11-20) for client-group waited 24 hours for approval; "
        "it expired and was not sent." in en.markdown
    )
    assert "asks for approval again" in en.markdown and "d-7f3a9c" in en.markdown
    zh = render("zh-CN", approval=WAIT)
    assert "发往 client-group 的项目日报（2026-11-20）等待审批 24 小时" in zh.markdown


@pytest.mark.parametrize("fmt", ["markdown", "text", "html"])
@pytest.mark.parametrize("about", [{"run": RUN}, {"approval": WAIT}])
def test_chinese_alerts_have_no_english_template_text(fmt: str, about: dict) -> None:
    rendered = getattr(render("zh-CN", **about), fmt)
    leftovers = [f for f in english_fragments() if re.search(rf"\b{re.escape(f)}\b", rendered)]
    assert leftovers == []


def test_hostile_reasons_and_names_are_escaped() -> None:
    hostile = RunProblem(
        flow="sync",
        run_name="[click](http://evil.example)",
        state="failed",
        reason="<!channel> @all <script>alert(1)</script>\n## injected",
        link="javascript:alert(1)",
    )
    message = render("en", run=hostile)
    assert "<!channel>" not in message.markdown and "\n## injected" not in message.markdown
    assert "[click](" not in message.markdown and "\\[click\\]" in message.markdown
    assert "javascript:" not in message.markdown and message.html is not None
    assert "<script>" not in message.html and "javascript:" not in message.html
    assert "@all" not in message.text  # mentions are broken in plain text


def test_each_problem_is_told_once_a_day_and_each_expiry_once() -> None:
    project = charter_project("en", "30 17 * * mon-fri")
    cal = calendar_for(project)

    def period(when: str, run: RunProblem) -> str:
        return team_alert_context(project, at(when), language="en", calendar=cal, run=run).period

    morning, evening = period("2026-11-21 09:00", RUN), period("2026-11-21 18:00", RUN)
    assert morning == evening != period("2026-11-22 09:00", RUN)
    other = RunProblem("sync", "x", "failed", "another reason")
    assert period("2026-11-21 09:00", other) != morning
    expiry = team_alert_context(
        project, at("2026-11-21 09:00"), language="en", calendar=cal, approval=WAIT
    )
    assert expiry.period == "approval_expired:d-7f3a9c"
    with pytest.raises(ValueError):
        team_alert_context(project, at("2026-11-21 09:00"), language="en", calendar=cal)


def test_a_long_reason_is_cut_in_every_format() -> None:
    reason = "HTTP 500: " + "堆栈跟踪 " * 20_000
    m = render("zh-CN", run=RunProblem("sync", "sync-now", "failed", reason))
    assert clip(reason, TEXT_LIMITS["md"]) in m.markdown
    assert clip(reason, TEXT_LIMITS["txt"]) in m.text
    assert m.html is not None and clip(reason, TEXT_LIMITS["html"]) in m.html
    assert len(m.markdown) + len(m.text) + len(m.html) < 20_000
