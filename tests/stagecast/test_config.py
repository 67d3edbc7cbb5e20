"""The config file (SPEC §2): the full example loads, and every mistake is named with its path."""

from __future__ import annotations

import pickle
import shutil
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from stagecast.config import (
    Config,
    ConfigError,
    DingTalkChannelConfig,
    EmailChannelConfig,
    FileChannelConfig,
    GdriveSourceConfig,
    JiraSourceConfig,
    ProjectConfig,
    SecretRef,
    SlackChannelConfig,
    StageConfig,
    TrelloExportSourceConfig,
    TrelloSourceConfig,
    WeComChannelConfig,
    load_config,
    parse_config,
    resolve_value,
    slugify,
)

EXAMPLE = Path(__file__).parent / "configs" / "example.yaml"

# Lines:  1 timezone, 3 - key, 6 - type, 9 - name: team, 12 - name: client-group, 17 daily_update.
MINIMAL = """\
timezone: Asia/Shanghai
projects:
  - key: acme-portal
    name: ACME 客户门户
    sources:
      - type: trello_export
        path: board.json
    channels:
      - name: team
        type: slack
        webhook: env:TEAM_HOOK
      - name: client-group
        type: wecom
        webhook: env:ACME_HOOK
        audience: client
    reports:
      daily_update: {cron: "30 17 * * mon-fri", channels: [team, client-group]}
"""


@pytest.fixture
def example(tmp_path: Path) -> Config:
    """The SPEC's example, verbatim, in a folder that has the files and folders it names."""
    shutil.copy(EXAMPLE, tmp_path / "stagecast.yaml")
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "board.json").write_text("{}")
    (tmp_path / "templates-local").mkdir()
    (tmp_path / "acme-templates").mkdir()
    return load_config(tmp_path / "stagecast.yaml")


def problems(tmp_path: Path, text: str) -> list[str]:
    """The problems loading `text` reports (it must fail)."""
    (tmp_path / "board.json").write_text("{}")
    (tmp_path / "stagecast.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "stagecast.yaml")
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def edit(old: str, new: str) -> str:
    """MINIMAL with one exact piece replaced."""
    assert MINIMAL.count(old) == 1, old
    return MINIMAL.replace(old, new)


# --- the example ---------------------------------------------------------------------------


def test_example_top_level(example: Config, tmp_path: Path) -> None:
    assert example.timezone == "Asia/Shanghai"
    assert example.tz == ZoneInfo("Asia/Shanghai")
    assert example.base_dir == tmp_path
    assert example.state == f"sqlite:///{tmp_path}/.stagecast/state.db"
    assert example.state.startswith("sqlite:////")
    assert example.outbox == tmp_path / ".stagecast" / "outbox"
    assert example.templates == tmp_path / "templates-local"
    assert [p.key for p in example.projects] == ["acme-portal"]


def test_example_project(example: Config, tmp_path: Path) -> None:
    project = example.projects[0]
    assert project.name == "ACME 客户门户"
    assert project.language == "zh-CN"
    assert project.timezone == "Asia/Shanghai"
    assert project.tz == ZoneInfo("Asia/Shanghai")
    assert project.templates == tmp_path / "acme-templates"
    assert project.sync.every_minutes == 60
    risk = project.risk
    assert (risk.stale_days, risk.due_soon_days, risk.scope_creep_pct) == (7, 3, 20)
    assert (risk.forecast_window_days, risk.at_risk_horizon_days) == (10, 10)
    assert project.charter is not None
    assert project.charter.purpose == "项目沟通群：进度、问题与决定"
    assert project.charter.response_time == "工作时间内 2 小时内回复"
    assert project.charter.contacts[0].name == "王工"
    assert project.charter.contacts[0].reach == "wang@ourfirm.example"


def test_example_calendar(example: Config) -> None:
    cal = example.projects[0].calendar
    assert cal.country == "CN"
    assert cal.workdays == ["mon", "tue", "wed", "thu", "fri"]
    assert (cal.start, cal.end) == (time(9), time(18))
    assert cal.holidays == [date(2026, 10, 1), date(2026, 10, 2)]
    assert cal.workday_overrides == [date(2026, 10, 10)]


def test_example_sources(example: Config, tmp_path: Path) -> None:
    jira, trello, export, drive = example.projects[0].sources
    assert isinstance(jira, JiraSourceConfig)
    assert (jira.name, jira.url, jira.jql) == (
        "jira",
        "https://acme.atlassian.net",
        "project = PORTAL",
    )
    assert (jira.stage_field, jira.max_concurrency, jira.timeout_seconds) == ("fixVersion", 8, 30)
    assert jira.email == SecretRef("env", "JIRA_EMAIL")
    assert isinstance(trello, TrelloSourceConfig)
    assert (trello.name, trello.url, trello.board) == (
        "trello",
        "https://api.trello.com",
        "5f1c0ffee",
    )
    assert (trello.lists.done, trello.lists.doing) == (["已验收"], ["开发中"])
    assert isinstance(export, TrelloExportSourceConfig)
    assert (export.name, export.stage_field) == ("trello_export", "label")
    assert export.path == tmp_path / "exports" / "board.json"
    assert isinstance(drive, GdriveSourceConfig)
    assert (drive.name, drive.folder, drive.minutes_folder) == ("gdrive", "1AbCdEf", "1MiNuTeS")
    assert drive.credentials == "env:GOOGLE_APPLICATION_CREDENTIALS"


def test_example_stages(example: Config) -> None:
    stages = example.projects[0].stages
    assert stages is not None
    (stage,) = stages
    assert (stage.name, stage.effective_key, stage.effective_match) == (
        "需求确认",
        "requirements",
        "v1.0-req",
    )
    assert stage.due == date(2026, 12, 1)
    assert stage.required_docs == ["需求规格说明书"]


def test_example_channels(example: Config) -> None:
    wecom, mail, slack, ding, archive = example.projects[0].channels
    assert isinstance(wecom, WeComChannelConfig)
    assert (wecom.audience, wecom.approval, wecom.mention) == ("client", False, ["zhangsan"])
    assert isinstance(mail, EmailChannelConfig)
    assert (mail.to, mail.cc, mail.from_) == (["pm@acme.example"], [], "delivery@ourfirm.example")
    assert (mail.smtp.host, mail.smtp.port, mail.smtp.starttls, mail.smtp.ssl) == (
        "smtp.example.com",
        587,
        True,
        False,
    )
    assert isinstance(slack, SlackChannelConfig)
    assert (slack.language, slack.proxy) == ("en", "http://proxy.ourfirm.example:3128")
    assert isinstance(ding, DingTalkChannelConfig)
    assert (ding.keyword, str(ding.secret)) == ("项目进展", "env:LEADS_DING_SECRET")
    assert isinstance(archive, FileChannelConfig)
    assert (archive.audience, archive.language) == ("internal", None)


def test_example_reports(example: Config) -> None:
    reports = example.projects[0].reports
    assert reports.daily_update is not None and reports.risk_alert is not None
    assert reports.daily_update.cron == "30 17 * * mon-fri"
    assert reports.daily_update.channels == ["team", "client-group"]
    assert reports.risk_alert.min_severity == "high"
    assert list(reports.by_kind()) == ["daily_update", "stage_report", "risk_alert", "charter"]


def test_secrets_stay_references(example: Config) -> None:
    jira = example.projects[0].sources[0]
    assert isinstance(jira, JiraSourceConfig)
    assert str(jira.token) == "env:JIRA_TOKEN"
    assert repr(jira.token) == "SecretRef('env:JIRA_TOKEN')"
    assert example.model_dump(mode="json")["projects"][0]["sources"][0]["token"] == "env:JIRA_TOKEN"


def test_resolve_reads_the_environment(example: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    jira = example.projects[0].sources[0]
    assert isinstance(jira, JiraSourceConfig) and jira.email is not None
    monkeypatch.setenv("JIRA_TOKEN", "tok-123")
    monkeypatch.setenv("JIRA_EMAIL", "me@acme.example")
    assert jira.token.resolve() == "tok-123"
    assert resolve_value(jira.email) == "me@acme.example"
    assert resolve_value("plain@acme.example") == "plain@acme.example"


def test_resolve_names_the_field_when_the_variable_is_unset(
    example: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ACME_WECOM_HOOK", raising=False)
    wecom = example.projects[0].channels[0]
    assert isinstance(wecom, WeComChannelConfig)
    with pytest.raises(ConfigError) as caught:
        wecom.webhook.resolve()
    assert caught.value.problems == [
        "projects[0].channels[0].webhook: environment variable ACME_WECOM_HOOK is not set"
    ]


def test_secret_block_references_are_left_to_connectors() -> None:
    with pytest.raises(ConfigError, match="Prefect Secret block"):
        SecretRef("secret", "acme-hook").resolve()


def test_gdrive_credentials_follow_the_variable(
    example: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    drive = example.projects[0].sources[3]
    assert isinstance(drive, GdriveSourceConfig)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/etc/sa.json")
    assert drive.credentials_file() == Path("/etc/sa.json")


def test_parse_config_from_text(tmp_path: Path) -> None:
    (tmp_path / "board.json").write_text("{}")
    config = parse_config(MINIMAL, tmp_path)
    project = config.projects[0]
    assert config.base_dir == tmp_path
    assert config.state == f"sqlite:///{tmp_path}/.stagecast/state.db"
    assert project.calendar.workdays == ["mon", "tue", "wed", "thu", "fri"]
    assert project.stages is None
    assert project.reports.stage_report is None


def test_projects_inherit_the_top_level_timezone(tmp_path: Path) -> None:
    (tmp_path / "board.json").write_text("{}")
    config = parse_config(MINIMAL.replace("Asia/Shanghai", "Europe/Berlin"), tmp_path)
    assert config.projects[0].timezone == "Europe/Berlin"
    assert config.projects[0].tz == ZoneInfo("Europe/Berlin")


def test_other_database_urls_are_kept(tmp_path: Path) -> None:
    (tmp_path / "board.json").write_text("{}")
    url = "postgresql+psycopg://stagecast@db.internal/stagecast"
    assert parse_config(f"state: {url}\n" + MINIMAL, tmp_path).state == url
    absolute = "sqlite:////var/lib/stagecast/state.db"
    assert parse_config(f"state: {absolute}\n" + MINIMAL, tmp_path).state == absolute
    assert parse_config("state: sqlite://\n" + MINIMAL, tmp_path).state == "sqlite://"


def test_a_bare_postgresql_url_is_read_as_psycopg(tmp_path: Path) -> None:
    """psycopg (3) is installed, psycopg2 (SQLAlchemy's default for postgresql://) is not."""
    (tmp_path / "board.json").write_text("{}")
    config = parse_config("state: postgresql://u@db:5432/s\n" + MINIMAL, tmp_path)
    assert config.state == "postgresql+psycopg://u@db:5432/s"


@pytest.mark.parametrize(
    "url",
    [
        "mysql://u@db/s",
        "postgresql+psycopg2://u@db/s",
        "postgresql+asyncpg://u@db/s",
        "sqlite+aiosqlite:///s.db",
        "sqlite://host/s.db",
        "postgresql://u@db:port/s",
        ".stagecast/state.db",
    ],
)
def test_state_urls_the_store_cannot_open_are_refused(tmp_path: Path, url: str) -> None:
    (found,) = problems(tmp_path, f"state: {url}\n" + MINIMAL)
    assert found.startswith("state: ") and found.endswith("(line 1)")
    assert "u@db" not in found  # a URL may hold a password: it is never quoted back


def test_anchors_and_merge_keys_keep_working(tmp_path: Path) -> None:
    """Shared settings written once: an anchor on one project, aliased and merged in another."""
    (tmp_path / "board.json").write_text("{}")
    text = (
        MINIMAL.replace(
            "    sources:", "    risk: &risk {stale_days: 5, due_soon_days: 2}\n    sources:"
        )
        .replace("      - type: trello_export", "      - &board\n        type: trello_export")
        .replace("channels: [team, client-group]", "channels: &both [team, client-group]")
    )
    second = (
        "  - key: beta\n"
        "    name: Beta\n"
        "    risk: {<<: *risk, stale_days: 9}\n"
        "    sources: [*board]\n"
        "    channels:\n"
        "      - {name: team, type: slack, webhook: env:TEAM_HOOK}\n"
        "      - {name: client-group, type: wecom, webhook: env:ACME_HOOK}\n"
        "    reports: {daily_update: {channels: *both}}\n"
    )
    config = parse_config(text + second, tmp_path)
    first, beta = config.projects
    assert (first.risk.stale_days, first.risk.due_soon_days) == (5, 2)
    assert (beta.risk.stale_days, beta.risk.due_soon_days) == (9, 2)
    assert beta.sources == first.sources
    assert beta.reports.daily_update is not None
    assert beta.reports.daily_update.channels == ["team", "client-group"]


def test_check_environment_names_every_unset_reference(
    example: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets, identities and the credentials path, each at its path; Prefect blocks are
    left to the connectors. Loading without the check is unchanged."""
    names = [
        "JIRA_EMAIL", "JIRA_TOKEN", "TRELLO_KEY", "TRELLO_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS",
        "ACME_WECOM_HOOK", "SMTP_USER", "SMTP_PASS", "TEAM_SLACK_HOOK", "LEADS_DING_HOOK",
        "LEADS_DING_SECRET",
    ]  # fmt: skip
    for name in names:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMTP_PASS", "")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "stagecast.yaml", check_environment=True)
    assert caught.value.problems == [
        "projects[0].sources[0].email: environment variable JIRA_EMAIL is not set (line 33)",
        "projects[0].sources[0].token: environment variable JIRA_TOKEN is not set (line 34)",
        "projects[0].sources[1].key: environment variable TRELLO_KEY is not set (line 41)",
        "projects[0].sources[1].token: environment variable TRELLO_TOKEN is not set (line 42)",
        "projects[0].sources[3].credentials: environment variable "
        "GOOGLE_APPLICATION_CREDENTIALS is not set (line 50)",
        "projects[0].channels[0].webhook: environment variable ACME_WECOM_HOOK is not set "
        "(line 61)",
        "projects[0].channels[1].smtp.username: environment variable SMTP_USER is not set "
        "(line 69)",
        "projects[0].channels[1].smtp.password: environment variable SMTP_PASS is empty (line 69)",
        "projects[0].channels[2].webhook: environment variable TEAM_SLACK_HOOK is not set "
        "(line 73)",
        "projects[0].channels[3].webhook: environment variable LEADS_DING_HOOK is not set "
        "(line 79)",
        "projects[0].channels[3].secret: environment variable LEADS_DING_SECRET is not set "
        "(line 80)",
    ]
    for name in names:
        monkeypatch.setenv(name, "set")
    load_config(tmp_path / "stagecast.yaml", check_environment=True)
    text = (tmp_path / "stagecast.yaml").read_text(encoding="utf-8")
    (tmp_path / "stagecast.yaml").write_text(text.replace("env:JIRA_TOKEN", "secret:jira"))
    monkeypatch.delenv("JIRA_TOKEN")
    load_config(tmp_path / "stagecast.yaml", check_environment=True)


def test_a_missing_variable_never_hides_a_problem_in_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file's own problems come first; the environment is checked once the file is right."""
    monkeypatch.delenv("TEAM_HOOK", raising=False)
    second = "\n".join(MINIMAL.splitlines()[2:]) + "\n"
    (tmp_path / "board.json").write_text("{}")
    (tmp_path / "stagecast.yaml").write_text(MINIMAL + second, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "stagecast.yaml", check_environment=True)
    assert caught.value.problems == [
        "projects[1].key: duplicate project key 'acme-portal' (also projects[0]) (line 18)"
    ]


def test_lookups_by_key_and_name(tmp_path: Path) -> None:
    (tmp_path / "board.json").write_text("{}")
    config = parse_config(MINIMAL, tmp_path)
    project = config.project("acme-portal")
    assert project.channel("team").type == "slack"
    with pytest.raises(ConfigError, match=r"unknown project 'nope' \(projects: acme-portal\)"):
        config.project("nope")
    with pytest.raises(ConfigError, match=r"channels: team, client-group"):
        project.channel("tema")


def test_models_are_frozen_and_strict(example: Config) -> None:
    with pytest.raises(ValueError, match="frozen"):
        example.projects[0].risk.stale_days = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="Extra inputs"):
        StageConfig(name="x", colour="red")  # type: ignore[call-arg]


def test_config_error_pickles_with_its_problems() -> None:
    err = pickle.loads(pickle.dumps(ConfigError(["a: b", "c: d"])))
    assert err.problems == ["a: b", "c: d"]


# --- broken configs ------------------------------------------------------------------------


def test_misspelt_key_suggests_the_real_one(tmp_path: Path) -> None:
    assert problems(tmp_path, edit("timezone:", "timezon:")) == [
        "timezon: unknown key (did you mean 'timezone'?) (line 1)"
    ]


def test_misspelt_key_inside_a_channel(tmp_path: Path) -> None:
    text = edit(
        "        webhook: env:ACME_HOOK\n",
        "        webhook: env:ACME_HOOK\n        audiance: client\n",
    )
    text = text.replace("        audience: client\n", "")
    assert problems(tmp_path, text) == [
        "projects[0].channels[1].audiance: unknown key (did you mean 'audience'?) (line 15)"
    ]


def test_literal_secret_is_refused_without_echoing_it(tmp_path: Path) -> None:
    hook = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abcd-1234"
    found = problems(tmp_path, edit("webhook: env:ACME_HOOK", f"webhook: {hook}"))
    assert found == [
        "projects[0].channels[1].webhook: a literal secret is not allowed; "
        "write env:NAME or secret:NAME (line 14)"
    ]
    assert "abcd-1234" not in "\n".join(found)


def test_malformed_reference_is_not_echoed(tmp_path: Path) -> None:
    found = problems(tmp_path, edit("webhook: env:TEAM_HOOK", "webhook: env:xoxb-99-secret"))
    assert found == [
        "projects[0].channels[0].webhook: env: must be followed by an environment variable name "
        "(letters, digits, _) (line 11)"
    ]
    assert "xoxb" not in found[0]


def test_secret_references_accept_prefect_blocks(tmp_path: Path) -> None:
    (tmp_path / "board.json").write_text("{}")
    config = parse_config(edit("env:TEAM_HOOK", "secret:team-slack.hook"), tmp_path)
    channel = config.projects[0].channels[0]
    assert isinstance(channel, SlackChannelConfig)
    assert (channel.webhook.kind, channel.webhook.name) == ("secret", "team-slack.hook")


def test_broken_yaml_names_line_and_column(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, edit("    name: ACME 客户门户\n", "    name: [ACME\n"))
    assert (
        found
        == f"{tmp_path / 'stagecast.yaml'}: line 5, column 12: expected ',' or ']', but got ':'"
    )


def test_bad_date_in_yaml_is_a_yaml_problem(tmp_path: Path) -> None:
    text = edit("    sources:", "    calendar: {holidays: [2026-13-01]}\n    sources:")
    (found,) = problems(tmp_path, text)
    assert found == (
        f"{tmp_path / 'stagecast.yaml'}: line 5, column 27: "
        "not a valid date (month must be in 1..12)"
    )


def test_report_naming_an_unknown_channel(tmp_path: Path) -> None:
    assert problems(tmp_path, edit("channels: [team, client-group]", "channels: [team, tema]")) == [
        "projects[0].reports.daily_update.channels[1]: unknown channel 'tema' "
        "(channels: team, client-group) (line 17)"
    ]


def test_two_projects_with_one_key(tmp_path: Path) -> None:
    second = "\n".join(MINIMAL.splitlines()[2:]) + "\n"
    assert problems(tmp_path, MINIMAL + second) == [
        "projects[1].key: duplicate project key 'acme-portal' (also projects[0]) (line 18)"
    ]


def test_unknown_channel_type(tmp_path: Path) -> None:
    assert problems(tmp_path, edit("type: wecom", "type: wechat")) == [
        "projects[0].channels[1].type: unknown type 'wechat' "
        "(expected one of: slack, teams, wecom, feishu, dingtalk, email, file) (line 13)"
    ]


def test_missing_channel_type(tmp_path: Path) -> None:
    assert problems(tmp_path, edit("        type: wecom\n", "")) == [
        "projects[0].channels[1].type: field required "
        "(expected one of: slack, teams, wecom, feishu, dingtalk, email, file) (line 12)"
    ]


def test_missing_webhook_points_at_its_channel(tmp_path: Path) -> None:
    assert problems(tmp_path, edit("        webhook: env:ACME_HOOK\n", "")) == [
        "projects[0].channels[1].webhook: field required (line 12)"
    ]


def test_bad_hours(tmp_path: Path) -> None:
    text = edit("    sources:", '    calendar:\n      hours: "18:00-09:00"\n    sources:')
    assert problems(tmp_path, text) == [
        "projects[0].calendar.hours: the start must be before the end (line 6)"
    ]
    text = edit("    sources:", '    calendar:\n      hours: "9 to 5"\n    sources:')
    assert problems(tmp_path, text) == [
        'projects[0].calendar.hours: expected "HH:MM-HH:MM", e.g. "09:00-18:00" (line 6)'
    ]


def test_bad_timezone(tmp_path: Path) -> None:
    assert problems(tmp_path, edit("Asia/Shanghai", "Asia/Shangai")) == [
        "timezone: unknown time zone 'Asia/Shangai' (an IANA name like Asia/Shanghai or "
        "Europe/Berlin) (line 1)"
    ]


def test_unknown_country(tmp_path: Path) -> None:
    text = edit("    sources:", "    calendar: {country: XX}\n    sources:")
    assert problems(tmp_path, text) == [
        "projects[0].calendar.country: unknown country 'XX' (a code the holidays package knows, "
        "e.g. CN, US, GB, DE) (line 5)"
    ]


def test_norway_read_as_false_gets_a_hint(tmp_path: Path) -> None:
    text = edit("    sources:", "    calendar: {country: NO}\n    sources:")
    assert problems(tmp_path, text) == [
        'projects[0].calendar.country: YAML read this as false; put the code in quotes, e.g. "NO" '
        "(line 5)"
    ]


def test_country_codes_are_upper_cased(tmp_path: Path) -> None:
    (tmp_path / "board.json").write_text("{}")
    text = edit("    sources:", "    calendar: {country: cn}\n    sources:")
    assert parse_config(text, tmp_path).projects[0].calendar.country == "CN"


def test_date_both_holiday_and_workday(tmp_path: Path) -> None:
    calendar = (
        "    calendar:\n"
        "      holidays: [2026-10-01, 2026-10-10]\n"
        "      workday_overrides: [2026-10-10]\n"
    )
    assert problems(tmp_path, edit("    sources:", calendar + "    sources:")) == [
        "projects[0].calendar.workday_overrides[0]: 2026-10-10 is also in holidays; "
        "keep it in one list (line 7)"
    ]


def test_repeated_workday(tmp_path: Path) -> None:
    text = edit("    sources:", "    calendar: {workdays: [mon, tue, mon]}\n    sources:")
    assert problems(tmp_path, text) == [
        "projects[0].calendar.workdays[2]: 'mon' is listed twice (line 5)"
    ]


def test_unknown_weekday_lists_the_allowed_ones(tmp_path: Path) -> None:
    text = edit("    sources:", "    calendar: {workdays: [mon, monday]}\n    sources:")
    assert problems(tmp_path, text) == [
        "projects[0].calendar.workdays[1]: 'monday' is not one of: "
        "mon, tue, wed, thu, fri, sat, sun (line 5)"
    ]


def test_duplicate_channel_names(tmp_path: Path) -> None:
    text = edit("name: client-group", "name: team").replace("[team, client-group]", "[team]")
    assert problems(tmp_path, text) == [
        "projects[0].channels[1].name: duplicate channel name 'team' "
        "(also projects[0].channels[0]) (line 12)"
    ]


def test_duplicate_stage_names_and_keys(tmp_path: Path) -> None:
    stages = (
        "    stages:\n"
        "      - name: Design Review\n"
        "      - name: Design Review\n"
        "      - name: design review!\n"
        "      - {name: Build, key: build}\n"
        "      - {name: Build 2, key: build}\n"
    )
    assert problems(tmp_path, edit("    channels:", stages + "    channels:")) == [
        "projects[0].stages[1].name: duplicate stage name 'Design Review' "
        "(also projects[0].stages[0]) (line 10)",
        "projects[0].stages[2].key: duplicate stage key 'design-review' made from its name "
        "(also projects[0].stages[0]) (line 11)",
        "projects[0].stages[4].key: duplicate stage key 'build' (also projects[0].stages[3]) "
        "(line 13)",
    ]


def test_duplicate_source_names(tmp_path: Path) -> None:
    sources = "      - type: trello_export\n        path: board.json\n"
    assert problems(tmp_path, edit("    channels:", sources + "    channels:")) == [
        "projects[0].sources[1].name: duplicate source name 'trello_export' "
        "(also projects[0].sources[0]) (line 8)"
    ]


def test_bad_project_key(tmp_path: Path) -> None:
    assert problems(tmp_path, edit("key: acme-portal", "key: ACME_Portal")) == [
        "projects[0].key: use lower-case letters, digits and dashes, e.g. acme-portal (line 3)"
    ]


def test_bad_cron(tmp_path: Path) -> None:
    assert problems(tmp_path, edit("30 17 * * mon-fri", "30 25 * * mon-fri")) == [
        "projects[0].reports.daily_update.cron: hour field: '25' is out of range 0-23 (line 17)"
    ]
    assert problems(tmp_path, edit("30 17 * * mon-fri", "30 17 * *")) == [
        "projects[0].reports.daily_update.cron: expected 5 cron fields "
        "(minute hour day month weekday), found 4 (line 17)"
    ]
    assert problems(tmp_path, edit("30 17 * * mon-fri", "30 17 * * mon-fry")) == [
        "projects[0].reports.daily_update.cron: day-of-week field: 'fry' is out of range 0-7 "
        "(line 17)"
    ]


def test_cron_only_on_the_daily_update(tmp_path: Path) -> None:
    text = MINIMAL + '      stage_report: {cron: "0 9 * * *", channels: [team]}\n'
    assert problems(tmp_path, text) == [
        "projects[0].reports.stage_report.cron: only daily_update and weekly_update are scheduled; "
        "the others follow events (line 18)"
    ]


def test_missing_export_file(tmp_path: Path) -> None:
    assert problems(tmp_path, edit("path: board.json", "path: exports/nope.json")) == [
        f"projects[0].sources[0].path: file not found: {tmp_path}/exports/nope.json (line 7)"
    ]


def test_missing_templates_folder(tmp_path: Path) -> None:
    assert problems(tmp_path, "templates: mine/\n" + MINIMAL) == [
        f"templates: folder not found: {tmp_path}/mine (line 1)"
    ]


def test_bad_email_addresses(tmp_path: Path) -> None:
    channel = (
        "      - name: mail\n"
        "        type: email\n"
        "        to: ['pm@acme.example\\nBcc: evil@x.example']\n"
        "        from: delivery\n"
        "        smtp: {host: smtp.example.com, password: hunter2}\n"
    )
    found = problems(tmp_path, edit("    reports:", channel + "    reports:"))
    address = "expected one plain address like name@example.com (no spaces or line breaks)"
    assert found == [
        f"projects[0].channels[2].to[0]: {address} (line 18)",
        f"projects[0].channels[2].from: {address} (line 19)",
        "projects[0].channels[2].smtp.password: a literal secret is not allowed; "
        "write env:NAME or secret:NAME (line 20)",
    ]
    assert "hunter2" not in "\n".join(found)


def test_numbers_and_limits(tmp_path: Path) -> None:
    text = edit(
        "    sources:", "    risk: {stale_days: -1, forecast_window_days: soon}\n    sources:"
    )
    assert problems(tmp_path, text) == [
        "projects[0].risk.stale_days: must be at least 0 (line 5)",
        "projects[0].risk.forecast_window_days: expected a whole number (line 5)",
    ]


def test_every_number_has_an_upper_bound(tmp_path: Path) -> None:
    """Past these a later run overflows date sums, never syncs, or waits forever."""
    text = edit(
        "    sources:",
        "    risk: {stale_days: 3651, due_soon_days: 3651, scope_creep_pct: 1001,\n"
        "           forecast_window_days: 100000000, at_risk_horizon_days: 3651}\n"
        "    sync: {every_minutes: 10081}\n"
        "    sources:",
    ).replace(
        "path: board.json",
        "path: board.json\n      - {type: jira, url: 'https://j.example',"
        " token: 'env:T', jql: x, max_concurrency: 65, timeout_seconds: .inf}",
    )
    assert problems(tmp_path, "delivery: {claim_timeout_s: 604801}\n" + text) == [
        "delivery.claim_timeout_s: must be at most 604800 (line 1)",
        "projects[0].risk.stale_days: must be at most 3650 (line 6)",
        "projects[0].risk.due_soon_days: must be at most 3650 (line 6)",
        "projects[0].risk.scope_creep_pct: must be at most 1000 (line 6)",
        "projects[0].risk.forecast_window_days: must be at most 3650 (line 7)",
        "projects[0].risk.at_risk_horizon_days: must be at most 3650 (line 7)",
        "projects[0].sync.every_minutes: must be at most 10080 (line 8)",
        "projects[0].sources[1].max_concurrency: must be at most 64 (line 12)",
        "projects[0].sources[1].timeout_seconds: expected a finite number (line 12)",
    ]


def test_smtp_login_needs_tls_unless_the_relay_is_local() -> None:
    """A password over plain SMTP is readable on the way; `insecure` is the explicit opt-out."""

    def smtp(**fields: object) -> EmailChannelConfig:
        return EmailChannelConfig.model_validate(
            {"name": "m", "to": ["a@b.example"], "from": "c@d.example", "smtp": fields}
        )

    plain = {"host": "h", "starttls": False, "username": "mailer", "password": "env:P"}
    with pytest.raises(ValueError, match="unencrypted"):
        smtp(**plain)
    assert smtp(**plain, insecure=True).smtp.insecure
    assert smtp(**plain, ssl=True).smtp.ssl
    assert smtp(host="h", username="u", password="env:P").smtp.starttls  # the default is STARTTLS
    assert not smtp(host="h", starttls=False).smtp.insecure  # no login, nothing to protect


def test_unquoted_number_where_text_is_expected(tmp_path: Path) -> None:
    stages = "    stages:\n      - {name: Build, match: 1.10}\n"
    assert problems(tmp_path, edit("    channels:", stages + "    channels:")) == [
        "projects[0].stages[0].match: expected text (put it in quotes) (line 9)"
    ]


def test_key_given_twice(tmp_path: Path) -> None:
    assert problems(tmp_path, edit("    name: ACME 客户门户\n", "    name: A\n    name: B\n")) == [
        "projects[0].name: key given twice (also line 4) (line 5)"
    ]


def test_several_problems_are_all_reported_in_file_order(tmp_path: Path) -> None:
    text = (
        edit("timezone:", "timezon:")
        .replace("key: acme-portal", "key: Acme")
        .replace("webhook: env:ACME_HOOK", "webhook: hunter2")
        .replace("type: slack", "type: slak")
    )
    text += "  - key: second\n    name: Second\n    sources: []\n"
    assert problems(tmp_path, text) == [
        "timezon: unknown key (did you mean 'timezone'?) (line 1)",
        "projects[0].key: use lower-case letters, digits and dashes, e.g. acme-portal (line 3)",
        "projects[0].channels[0].type: unknown type 'slak' "
        "(expected one of: slack, teams, wecom, feishu, dingtalk, email, file) (line 10)",
        "projects[0].channels[1].webhook: a literal secret is not allowed; "
        "write env:NAME or secret:NAME (line 14)",
        "projects[1].sources: must not be empty (line 20)",
    ]


def test_cross_checks_run_alongside_field_errors_elsewhere(tmp_path: Path) -> None:
    text = edit("timezone: Asia/Shanghai", "timezone: Mars/Olympus").replace(
        "[team, client-group]", "[team, tema]"
    )
    assert problems(tmp_path, text) == [
        "timezone: unknown time zone 'Mars/Olympus' (an IANA name like Asia/Shanghai or "
        "Europe/Berlin) (line 1)",
        "projects[0].reports.daily_update.channels[1]: unknown channel 'tema' "
        "(channels: team, client-group) (line 17)",
    ]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert caught.value.problems == [f"{tmp_path / 'nope.yaml'}: file not found"]


@pytest.mark.parametrize(
    ("text", "found"),
    [("", "nothing"), ("- a\n- b\n", "a list"), ("just words\n", "a text")],
)
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, found: str) -> None:
    assert problems(tmp_path, text) == [
        f"{tmp_path / 'stagecast.yaml'}: expected a mapping of settings with 'projects', "
        f"found {found}"
    ]


def test_projects_are_required(tmp_path: Path) -> None:
    assert problems(tmp_path, "timezone: UTC\n") == ["projects: field required (line 1)"]


def test_models_can_be_built_in_code(tmp_path: Path) -> None:
    project = ProjectConfig.model_validate(
        {
            "key": "p",
            "name": "P",
            "sources": [
                {"type": "jira", "url": "https://j.example/", "token": "env:T", "jql": "x"}
            ],
        }
    )
    assert project.sources[0].name == "jira"
    assert project.sources[0].url == "https://j.example"  # type: ignore[union-attr]
    mail = EmailChannelConfig.model_validate(
        {"name": "m", "to": ["a@b.example"], "from_": "c@d.example", "smtp": {"host": "h"}}
    )
    assert mail.from_ == "c@d.example"


# --- slugs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("需求确认", "需求确认"),
        ("Design Review", "design-review"),
        ("v1.0-req", "v1-0-req"),
        ("  UAT / 验收  ", "uat-验收"),
        ("snake_case_name", "snake-case-name"),
        ("ＡＢＣ１", "abc1"),  # full-width, NFKC-normalised
        ("---", "stage"),
        ("", "stage"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_approval_timeout_reads_like_a_person_writes_it(tmp_path: Path) -> None:
    def timeout(value: str) -> timedelta:
        text = edit(
            "        audience: client\n",
            "        audience: client\n        approval: true\n"
            f"        approval_timeout: {value}\n",
        )
        (tmp_path / "board.json").write_text("{}")
        return parse_config(text, tmp_path).projects[0].channel("client-group").approval_timeout

    assert timeout("24h") == timedelta(hours=24)
    assert timeout("90m") == timedelta(minutes=90)
    assert timeout("2d") == timedelta(days=2)
    assert timeout("1h30m") == timedelta(minutes=90)
    assert timeout("6") == timedelta(hours=6)
    (tmp_path / "board.json").write_text("{}")
    default = parse_config(MINIMAL, tmp_path).projects[0].channel("client-group")
    assert default.approval_timeout == timedelta(hours=24)
    for bad, says in (
        ("soon", "expected a duration like 24h"),
        ("0h", "longer than zero"),
        ("-3", "longer than zero"),
    ):
        text = edit(
            "        audience: client\n",
            f"        audience: client\n        approval_timeout: {bad}\n",
        )
        (found,) = problems(tmp_path, text)
        assert found.startswith("projects[0].channels[1].approval_timeout: ") and says in found
        assert found.endswith("(line 16)")


LISTENING = """\
listen: {public_url: "https://ops.example/stagecast/"}
projects:
  - key: acme-portal
    name: ACME
    sources:
      - {type: jira, url: https://acme.atlassian.net, token: env:JIRA_TOKEN, jql: project = P,
         webhook_secret: env:JIRA_HOOK_SECRET}
      - {type: trello, board: 5f1c0ffee, key: env:TRELLO_KEY, token: env:TRELLO_TOKEN,
         webhook_secret: "secret:trello-app-secret"}
"""


def test_webhook_secrets_and_the_public_url_of_listen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = parse_config(LISTENING, tmp_path)
    jira, trello = config.projects[0].sources
    assert isinstance(jira, JiraSourceConfig) and isinstance(trello, TrelloSourceConfig)
    assert jira.webhook_secret == SecretRef("env", "JIRA_HOOK_SECRET")
    assert trello.webhook_secret == SecretRef("secret", "trello-app-secret")
    assert config.listen.public_url == "https://ops.example/stagecast"  # paths are appended
    assert (config.listen.debounce_seconds, config.listen.max_wait_seconds) == (5.0, 30.0)
    (tmp_path / "board.json").write_text("{}")
    assert parse_config(MINIMAL, tmp_path).listen.public_url is None
    for name in ("JIRA_TOKEN", "TRELLO_KEY", "TRELLO_TOKEN", "JIRA_HOOK_SECRET"):
        monkeypatch.setenv(name, "set")
    monkeypatch.delenv("JIRA_HOOK_SECRET")
    with pytest.raises(ConfigError) as caught:
        parse_config(LISTENING, tmp_path, check_environment=True)
    assert caught.value.problems == [
        "projects[0].sources[0].webhook_secret: environment variable JIRA_HOOK_SECRET is not set"
        " (line 7)"
    ]


def test_webhook_secrets_are_secrets_and_listen_needs_a_web_address(tmp_path: Path) -> None:
    literal = LISTENING.replace("env:JIRA_HOOK_SECRET", "s3cr3t-value")
    (found,) = problems(tmp_path, literal)
    assert found.startswith("projects[0].sources[0].webhook_secret: a literal secret")
    assert "s3cr3t-value" not in found
    for url, says in (
        ("ftp://ops.example", "expected an http(s) URL"),
        ("https://ops.example/?a=1", "without ?query or #fragment"),
        ("not a url", "expected an http(s) URL"),
    ):
        (found,) = problems(tmp_path, LISTENING.replace("https://ops.example/stagecast/", url))
        assert found.startswith("listen.public_url: ") and says in found, found
    (found,) = problems(
        tmp_path,
        LISTENING.replace('"}', '", debounce_seconds: 60, max_wait_seconds: 10}', 1),
    )
    assert found == "listen.max_wait_seconds: must be at least debounce_seconds (line 1)"
    (found,) = problems(tmp_path, LISTENING.replace("listen:", "listen_:"))
    assert found.startswith("listen_: unknown key (did you mean 'listen'?)")


def test_a_trello_webhook_secret_needs_the_public_url_trello_signs(tmp_path: Path) -> None:
    text = LISTENING.split("\n", 1)[1]  # no listen section
    (found,) = problems(tmp_path, text)
    assert found.startswith("projects[0].sources[1].webhook_secret: Trello signs the callback URL")
    assert "set listen.public_url" in found
