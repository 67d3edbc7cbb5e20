"""The daily update as chat markdown, plain text and HTML, in Chinese and English, for clients
and the team (SPEC §7). The golden files are the product: read them when they change.

Regenerate them with `STAGECAST_UPDATE_GOLDEN=1 .venv/bin/pytest tests/stagecast/reports`.
"""

from __future__ import annotations

import html
import os
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from markdown_it import MarkdownIt

from stagecast.config import ProjectConfig
from stagecast.evaluate import SourceOutcome, calendar_for, evaluate
from stagecast.models import Document, Message, MinuteItem, SourcePull, Task
from stagecast.reports.context import daily_update_context
from stagecast.reports.escape import clip, md_escape, md_url, one_line, plain
from stagecast.reports.render import (
    SECTION_MARKER,
    TEMPLATES,
    TEXT_LIMITS,
    TITLE_LIMIT,
    join_sections,
    render_report,
    split_sections,
)
from tests.builders import at, day, task
from tests.stagecast.reports.scenario import Scenario, scenario, scenario_chart

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("STAGECAST_UPDATE_GOLDEN") == "1"
LANGUAGES = ("zh-CN", "en")
AUDIENCES = ("client", "internal")
FORMATS = {"md": "markdown", "txt": "text", "html": "html"}
ZWSP = "\u200b"
MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")
CATALOGUE = TEMPLATES / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po"


def daily(s: Scenario, language: str, audience: str, **kw: object) -> Message:
    context = daily_update_context(
        s.project,
        s.snapshot,
        kw.pop("since", s.since),  # type: ignore[arg-type]
        audience=audience,  # type: ignore[arg-type]
        language=language,
        calendar=s.calendar,
    )
    return render_report("daily_update", context, language=language, audience=audience, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def messages() -> dict[tuple[str, str], Message]:
    found = {}
    for language in LANGUAGES:
        s = scenario(language)
        for audience in AUDIENCES:
            found[language, audience] = daily(s, language, audience, chart=scenario_chart(s))
    return found


# --- golden files --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_golden(messages: dict[tuple[str, str], Message], language: str, audience: str, fmt: str):
    rendered = getattr(messages[language, audience], FORMATS[fmt])
    path = GOLDEN / f"daily_update.{audience}.{language}.{fmt}"
    if UPDATE:
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"{path.name} missing: run with STAGECAST_UPDATE_GOLDEN=1"
    assert rendered == path.read_text(encoding="utf-8"), f"{path.name} changed"


def test_message_fields(messages: dict[tuple[str, str], Message]) -> None:
    m = messages["zh-CN", "client"]
    assert (m.kind, m.project, m.period, m.audience, m.language) == (
        "daily_update",
        "acme-portal",
        "2026-11-20",
        "client",
        "zh-CN",
    )
    assert m.title == "ACME 客户门户 · 项目日报 · 11月20日"
    assert messages["en", "internal"].title == "ACME Customer Portal · Daily update · 20 Nov"


# --- audience ------------------------------------------------------------------------------

NAMES = {"zh-CN": ["王磊", "李娜", "赵强", "陈晨"], "en": ["Wang Lei", "Li Na", "Zhao Qiang"]}
INTERNAL_WORDS = {
    "zh-CN": ["长期未更新", "无负责人", "数据源不可用", "代码评审环境搭建", "性能压测脚本"],
    "en": [
        "No recent update",
        "Unassigned",
        "Source unavailable",
        "Set up the code review environment",
        "Load test scripts",
    ],
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_client_sees_no_names_internal_flags_or_internal_tasks(
    messages: dict[tuple[str, str], Message], language: str, fmt: str
) -> None:
    client = getattr(messages[language, "client"], FORMATS[fmt])
    team = getattr(messages[language, "internal"], FORMATS[fmt])
    for word in NAMES[language] + INTERNAL_WORDS[language]:
        assert word not in client, word
        assert word in team, word
    for key in ("PORTAL-14", "PORTAL-20", "PORTAL-13", "gdrive"):
        assert key not in client and key in team, key


def test_client_chat_has_no_task_links_but_document_links(
    messages: dict[tuple[str, str], Message],
) -> None:
    client = messages["zh-CN", "client"].markdown
    assert "atlassian.net" not in client and "drive.google.com" in client
    assert "atlassian.net/browse/PORTAL-9" in messages["zh-CN", "internal"].markdown


# --- language ------------------------------------------------------------------------------


def catalogue_ids() -> set[str]:
    with CATALOGUE.open("rb") as fp:
        catalog = read_po(fp, locale="zh_CN")
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def template_ids() -> set[str]:
    options = {"extensions": "jinja2.ext.i18n", "trimmed": "true"}
    return {
        message if isinstance(message, str) else message[0]
        for _, _, message, _, _ in extract_from_dir(
            str(TEMPLATES), method_map=[("**.j2", "jinja2")], options_map={"**.j2": options}
        )
    }


def test_every_template_string_has_a_chinese_translation_and_none_is_unused() -> None:
    with CATALOGUE.open("rb") as fp:
        catalog = read_po(fp, locale="zh_CN")
    ids = template_ids()
    assert len(ids) > 50
    assert ids - catalogue_ids() == set(), "add these to messages.po"
    assert catalogue_ids() - ids == set(), "no template uses these any more"
    for message in catalog:
        if message.id:
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            assert all(strings) and not message.fuzzy, message.id


def english_fragments() -> set[str]:
    """The literal English of every template string (placeholders cut out), long enough to be
    recognised in a rendering."""
    fragments = set()
    for msgid in template_ids():
        for part in re.split(r"%\(\w+\)s|%%", msgid):
            if len(re.findall("[A-Za-z]", part)) >= 3:
                fragments.add(part.strip(" .:;,()"))
    return fragments


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("audience", AUDIENCES)
def test_chinese_rendering_has_no_english_template_text(
    messages: dict[tuple[str, str], Message], audience: str, fmt: str
) -> None:
    rendered = getattr(messages["zh-CN", audience], FORMATS[fmt])
    leftovers = [f for f in english_fragments() if re.search(rf"\b{re.escape(f)}\b", rendered)]
    assert leftovers == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_dates_in_the_reports_locale(messages: dict[tuple[str, str], Message], fmt: str) -> None:
    zh = getattr(messages["zh-CN", "client"], FORMATS[fmt])
    en = getattr(messages["en", "client"], FORMATS[fmt])
    assert "2026年11月20日 星期五" in zh and "11月23日（周一）" in zh
    assert "Friday, 20 November 2026" in en and "Mon 23 Nov" in en
    assert "57%" in zh and "57%" in en


def test_a_year_is_shown_only_when_it_differs(zh_scenario: Scenario) -> None:
    stages = tuple(
        replace(s, due=day("2027-01-15")) if s.key == "build" else s
        for s in zh_scenario.snapshot.stages
    )
    s = replace(zh_scenario, snapshot=replace(zh_scenario.snapshot, stages=stages))
    markdown = daily(s, "zh-CN", "client").markdown
    assert "计划 2027年1月15日" in markdown and "计划 11月18日" in markdown


def test_plural_forms_in_english() -> None:
    s = scenario("en")
    risks = tuple(
        replace(r, due=day("2026-11-19"), days=1) if r.code == "overdue" else r
        for r in s.snapshot.risks
    )
    one = replace(s, snapshot=replace(s.snapshot, risks=risks))
    markdown = daily(one, "en", "client").markdown
    assert "due 19 Nov, 1 day overdue" in markdown
    assert "due 18 Nov, 2 days overdue" in daily(s, "en", "client").markdown


def test_first_update(zh_scenario: Scenario) -> None:
    for language in LANGUAGES:
        m = daily(scenario(language), language, "client", since=None)
        first = {"zh-CN": "这是本项目的第一份日报", "en": "This is the first daily update"}
        for rendered in (m.markdown, m.text, m.html):
            assert first[language] in (rendered or "")
    m = daily(zh_scenario, "zh-CN", "client", since=None)
    assert "**当前（" in m.markdown and "**新增（" not in m.markdown


@pytest.fixture(scope="module")
def zh_scenario() -> Scenario:
    return scenario("zh-CN")


# --- sections ------------------------------------------------------------------------------


@pytest.mark.parametrize("audience", AUDIENCES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_sections_split_at_headings_and_join_back(
    messages: dict[tuple[str, str], Message], language: str, audience: str
) -> None:
    m = messages[language, audience]
    assert join_sections(m.sections) == m.markdown
    assert split_sections(m.markdown) == m.sections
    assert SECTION_MARKER not in m.markdown
    assert m.sections[0].startswith("# ")
    assert all(s.startswith("## ") for s in m.sections[1:])
    headings = [line for line in m.markdown.splitlines() if line.startswith("## ")]
    # The team's update has one more: the minutes' open action items.
    assert len(m.sections) == len(headings) + 1 == (7 if audience == "client" else 8)


def test_split_falls_back_to_headings_without_markers() -> None:
    text = "# T\n\nintro\n\n## A\n\na\n\n\n\n## B  \nb\n"
    assert split_sections(text) == ("# T\n\nintro", "## A\n\na", "## B\nb")
    assert split_sections(f"# T\n{SECTION_MARKER}\n## A\n# not split\n") == (
        "# T",
        "## A\n# not split",
    )


# --- hostile source text -------------------------------------------------------------------

HOSTILE = [
    "<!channel> ping",
    "@all 看这里",
    "[click](http://evil.example)",
    "<script>alert(1)</script>",
    "**bold**\n## fake heading",
    '<at user_id="all">所有人</at>',
    "<@U024BE7LH> hi",
    "<img src=x onerror=alert(1)>",
    "@here @everyone",
]
PINGS = re.compile(r"<!channel>|<!here>|<!everyone>|<@U|<at |@(?!\u200b)(all|here|everyone)")


def hostile_scenario() -> Scenario:
    """Every source text field hostile; stages discovered from the board, so named by it."""
    project = ProjectConfig.model_validate(
        {
            "key": "evil",
            "name": "<b>Evil</b> @all",
            "timezone": "Asia/Shanghai",
            "sources": [
                {"type": "jira", "url": "https://j.example", "token": "env:T", "jql": "x"},
                {"type": "gdrive", "folder": "f", "credentials": "env:G"},
            ],
        }
    )
    tasks = [
        task(
            f"E-{i}",
            "in_progress",
            title=title,
            source="jira",
            url=f"https://j.example/browse/E-{i}",
            stage_value="## <script>stage</script> @all",
            assignee="@all <!here>",
            due="2026-11-19" if i % 2 else "2026-11-23",
            blocked=i % 3 == 0,
            status="[Blocked](http://evil.example)",
        )
        for i, title in enumerate(HOSTILE, start=1)
    ]
    drive = SourcePull(
        documents=tuple(
            Document(
                f"d{i}",
                name,
                "gdrive",
                f"https://drive.example/d{i}",
                modified=at("2026-11-20 09:00"),
            )
            for i, name in enumerate(HOSTILE)
        ),
        minutes=tuple(
            MinuteItem("decision", text, "<i>minutes</i>", "javascript:alert(1)", day("2026-11-20"))
            for text in HOSTILE
        ),
    )
    snapshot = evaluate(
        project,
        at("2026-11-20 17:30"),
        [
            SourceOutcome("jira", "jira", SourcePull(tuple(tasks)), None, None),
            SourceOutcome("gdrive", "gdrive", drive, None, None),
        ],
        None,
        {},
    )
    since = replace(
        snapshot, as_of=at("2026-11-19 17:30"), tasks=(), documents=(), minutes=(), risks=()
    )
    return Scenario(project, snapshot, since, calendar_for(project))


class _Tree(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.hrefs += [v or "" for k, v in attrs if k in ("href", "src")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> _Tree:
    tree = _Tree()
    tree.feed(html)
    tree.close()
    return tree


@pytest.fixture(scope="module", params=[(lang, aud) for lang in LANGUAGES for aud in AUDIENCES])
def hostile(request: pytest.FixtureRequest) -> Message:
    language, audience = request.param
    s = hostile_scenario()
    return daily(s, language, audience, chart=scenario_chart(s))


def test_hostile_markdown_has_no_link_ping_script_or_heading(hostile: Message) -> None:
    assert not PINGS.search(hostile.markdown)
    assert "<script" not in hostile.markdown and "<b>" not in hostile.markdown
    tree = parse(MD.render(hostile.markdown))
    assert {"script", "img", "at", "b", "i"}.isdisjoint(tree.tags)
    assert all(re.match(r"https://(j|drive)\.example/", h) for h in tree.hrefs), tree.hrefs
    assert tree.tags.count("h1") == 1 and tree.tags.count("h2") == len(hostile.sections) - 1
    text = "".join(tree.text).replace(ZWSP, "")
    for title in HOSTILE:
        assert one_line(title) in text


def test_hostile_text_reads_as_typed_on_one_line_and_pings_nobody(hostile: Message) -> None:
    for title in HOSTILE:
        assert one_line(title) in hostile.text.replace(ZWSP, "")
    assert not PINGS.search(hostile.text)
    assert not [line for line in hostile.text.splitlines() if line.lstrip().startswith("#")]
    assert "\n" not in hostile.title and not PINGS.search(hostile.title)
    assert hostile.title.replace(ZWSP, "").startswith("<b>Evil</b> @all · ")


def test_hostile_html_is_only_text(hostile: Message) -> None:
    assert hostile.html is not None
    tree = parse(hostile.html)
    assert {"script", "at", "b", "i"}.isdisjoint(tree.tags)
    (chart,) = hostile.images  # the one picture is the burn-up chart, with the stage's name
    assert tree.tags.count("img") == 1 and f'src="cid:{chart.cid}"' in hostile.html
    assert "<script>stage</script>" not in hostile.html
    links = r"https://(j|drive)\.example/|cid:burnup\."
    assert all(re.match(links, h) for h in tree.hrefs), tree.hrefs
    text = "".join(tree.text)
    for title in HOSTILE:
        assert one_line(title) in text
    assert "javascript:" not in hostile.html


# --- template folders ----------------------------------------------------------------------


def test_a_template_folder_overrides_file_by_file(tmp_path: Path, zh_scenario: Scenario) -> None:
    (tmp_path / "daily_update.md.j2").write_text(
        '{% import "_macros.md.j2" as m with context %}'
        "# {{ report.project_name }} · 自定义\n\n"
        "{{ m.bar(report.progress.bar) }} {{ report.risks.new[0].task.title }}\n",
        encoding="utf-8",
    )
    custom = daily(zh_scenario, "zh-CN", "client", template_dirs=[tmp_path])
    packaged = daily(zh_scenario, "zh-CN", "client")
    assert custom.markdown == "# ACME 客户门户 · 自定义\n\n█████░░░░░ 第三方短信网关对接设计\n"
    assert (custom.text, custom.html, custom.title) == (
        packaged.text,
        packaged.html,
        packaged.title,
    )


def test_a_template_folder_can_add_to_the_catalogue(tmp_path: Path, zh_scenario: Scenario) -> None:
    folder = tmp_path / "locale" / "zh_CN" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Daily update"\nmsgstr "每日进展"\n',
        encoding="utf-8",
    )
    m = daily(zh_scenario, "zh-CN", "client", template_dirs=[tmp_path])
    assert m.title == "ACME 客户门户 · 每日进展 · 11月20日"
    assert "## 阶段进度" in m.markdown


def test_escaping_holds_in_an_override_that_forgets_the_filter(
    tmp_path: Path, zh_scenario: Scenario
) -> None:
    (tmp_path / "daily_update.md.j2").write_text(
        "{% for t in report.changes.added.items %}- {{ t.title }} "
        "{% trans title=t.title %}({{ title }}){% endtrans %}\n{% endfor %}",
        encoding="utf-8",
    )
    s = replace(
        zh_scenario,
        snapshot=replace(
            zh_scenario.snapshot,
            tasks=(*zh_scenario.snapshot.tasks, task("X-1", title="[a](http://evil.example) @all")),
        ),
    )
    markdown = daily(s, "zh-CN", "client", template_dirs=[tmp_path]).markdown
    assert rf"\[a\](http://evil.example) @{ZWSP}all (\[a\]" in markdown


# --- bounded output ------------------------------------------------------------------------


def with_task(s: Scenario, *tasks: Task) -> Scenario:
    """The scenario with tasks added today (they show under "Added")."""
    return replace(s, snapshot=replace(s.snapshot, tasks=(*s.snapshot.tasks, *tasks)))


def test_source_text_is_cut_per_format_before_it_is_escaped(zh_scenario: Scenario) -> None:
    """Cut first, then escaped: no entity, backslash escape or broken mention is cut in half."""
    title = "R&D <b>@all</b> *x* " * 200
    s = with_task(zh_scenario, task("X-1", title=title), task("X-2", title="&" * 1000))
    m = daily(s, "zh-CN", "internal")
    assert md_escape(clip(title, TEXT_LIMITS["md"])) in m.markdown
    assert md_escape(clip(title, TEXT_LIMITS["txt"])) not in m.markdown
    assert plain(clip(title, TEXT_LIMITS["txt"])) in m.text
    assert m.html is not None
    assert html.escape(clip(title, TEXT_LIMITS["html"]), quote=False) in m.html
    assert f" {'&amp;' * (TEXT_LIMITS['md'] - 1)}…" in m.markdown
    assert f" {'&amp;' * (TEXT_LIMITS['html'] - 1)}…" in m.html
    assert f" {'&' * (TEXT_LIMITS['txt'] - 1)}…" in m.text


def test_links_are_never_cut(zh_scenario: Scenario) -> None:
    url = "https://acme.atlassian.net/browse/X-1?from=" + "a" * 1500
    m = daily(with_task(zh_scenario, task("X-1", title="t", url=url)), "zh-CN", "internal")
    assert f"]({md_url(url)})" in m.markdown
    assert m.html is not None and f'href="{url}"' in m.html


def test_the_subject_line_is_cut_to_the_title_limit(zh_scenario: Scenario) -> None:
    name = "ACME 客户门户" * 100
    project = zh_scenario.project.model_copy(update={"name": name})
    m = daily(replace(zh_scenario, project=project), "zh-CN", "client")
    assert m.title == clip(name, TITLE_LIMIT)


def test_the_cut_holds_in_an_override_that_forgets_it(
    tmp_path: Path, zh_scenario: Scenario
) -> None:
    (tmp_path / "daily_update.md.j2").write_text(
        "{% for t in report.changes.added.items %}{{ t.title }}\n"
        "{% trans title=t.title %}({{ title }}){% endtrans %}\n{% endfor %}",
        encoding="utf-8",
    )
    title = "很长的标题" * 1000
    s = with_task(zh_scenario, task("X-1", title=title))
    markdown = daily(s, "zh-CN", "client", template_dirs=[tmp_path]).markdown
    cut = clip(title, TEXT_LIMITS["md"])
    assert f"{cut}\n({cut})" in markdown


def test_unknown_audience_is_refused(zh_scenario: Scenario) -> None:
    context = daily_update_context(
        zh_scenario.project,
        zh_scenario.snapshot,
        None,
        audience="client",
        language="zh-CN",
        calendar=zh_scenario.calendar,
    )
    with pytest.raises(ValueError, match="audience"):
        render_report("daily_update", context, language="zh-CN", audience="everyone")
