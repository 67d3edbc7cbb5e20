"""The Drive source against a local Drive v3 and token endpoint, through the real libraries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.http import HostLimits, RetryPolicy
from connectors.sources import gdrive
from connectors.sources.base import PullRequest, SourceError, build_source
from connectors.sources.gdrive import DriveSource
from stagecast.config import GdriveSourceConfig, ProjectConfig
from stagecast.evaluate import SourceOutcome, evaluate
from stagecast.models import SourcePull
from tests.builders import at
from tests.connectors.fake_drive import (
    ACCOUNT,
    DOCX,
    GOOGLE_DOC,
    MINUTES,
    PDF,
    PROJECT_DOCUMENTS,
    ROOT,
    FakeDrive,
    Fault,
    authorized_user_file,
    contract_case,
    project_drive,
    running_drive,
)

BAD_PEM = "-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----"
AS_OF = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


class Sleeps(list[float]):
    """Records the waits a source asked for instead of sleeping them."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[FakeDrive, Path]]:
    """The project drive, served, with a service-account key file that points at it."""
    with running_drive(tmp_path, project_drive()) as (drive, key_file):
        yield drive, key_file


def config(drive: FakeDrive, key_file: Path | str, **overrides: Any) -> GdriveSourceConfig:
    """A `type: gdrive` entry for the served drive."""
    values: dict[str, Any] = {
        "url": drive.base_url,
        "folder": ROOT,
        "credentials": str(key_file),
        "minutes_folder": MINUTES,
        "timeout_seconds": 5,
    }
    values.update(overrides)
    return GdriveSourceConfig(**values)


def source(
    drive: FakeDrive,
    key_file: Path | str,
    *,
    tries: int = 3,
    sleeps: Sleeps | None = None,
    **kw: Any,
) -> DriveSource:
    """A Drive source that retries `tries` times and records its waits."""
    policy = RetryPolicy(tries=tries, base_delay=0.01, max_delay=0.01)
    return DriveSource(
        config(drive, key_file, **kw),
        policy=policy,
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


def names(pull: SourcePull) -> list[str]:
    return [d.name for d in pull.documents]


# --- listing --------------------------------------------------------------------------------


def test_the_folder_tree_becomes_documents_with_links_types_and_utc_times(served):
    drive, key_file = served
    pull = source(drive, key_file).pull()

    assert names(pull) == list(PROJECT_DOCUMENTS)  # no folders, nothing trashed
    assert pull.tasks == () and pull.complete and pull.warnings == ()
    spec = next(d for d in pull.documents if d.id == "f-req")
    assert spec.source == "gdrive"
    assert spec.mime_type == DOCX
    assert spec.url == "https://drive.google.com/file/d/f-req/view?usp=drivesdk"
    assert spec.modified == datetime(2026, 11, 17, 9, 30, tzinfo=UTC)


def test_many_pages_and_nested_folders_are_all_read(tmp_path):
    drive = FakeDrive(max_page=40)  # Drive may return fewer items than pageSize asks for
    drive.folder(ROOT, "root", "0")
    for i in range(250):
        drive.add(f"r{i:03}", f"交付物 {i:03}.pdf", PDF, ROOT)
    parent = ROOT
    for depth in range(1, 5):
        drive.folder(f"d{depth}", f"第{depth}层", parent)
        for i in range(45):
            drive.add(f"d{depth}-{i}", f"level {depth} file {i}", PDF, f"d{depth}")
        parent = f"d{depth}"
    with running_drive(tmp_path, drive) as (drive, key_file):
        pull = source(drive, key_file, minutes_folder=None).pull()

    assert len(pull.documents) == 250 + 4 * 45
    assert len({d.id for d in pull.documents}) == len(pull.documents)
    lists = drive.api_requests("/files")
    root_pages = [s for s in lists if s.query.get("q", "").startswith(f"'{ROOT}'")]
    assert len(root_pages) == 7  # 250 items, 40 a page; the last page carries no token
    assert [bool(s.query.get("pageToken")) for s in root_pages] == [False] + [True] * 6
    assert all(s.query["pageSize"] == "1000" for s in root_pages)
    assert all(s.query["q"].endswith("in parents and trashed = false") for s in root_pages)


def test_a_folder_cycle_is_walked_once(tmp_path):
    drive = FakeDrive()
    drive.folder(ROOT, "root", "0", "B")  # legacy multi-parent folders can form a cycle
    drive.folder("A", "A", ROOT, "B")
    drive.folder("B", "B", "A")
    drive.add("a1", "in A", PDF, "A")
    drive.add("b1", "in B", PDF, "B")
    with running_drive(tmp_path, drive) as (drive, key_file):
        pull = source(drive, key_file, minutes_folder=None).pull()

    assert sorted(names(pull)) == ["in A", "in B"]
    listed = [s.query["q"].split("'")[1] for s in drive.api_requests("/files") if "q" in s.query]
    assert sorted(listed) == sorted([ROOT, "A", "B"])


def test_unicode_names_and_a_malformed_item(tmp_path):
    drive = FakeDrive()
    drive.folder(ROOT, "客户门户 📁", "0")
    drive.add("u1", "📄 交付清单 — v1.xlsx", "application/vnd.ms-excel", ROOT)
    drive.add("u2", "", PDF, ROOT)  # no name: skipped, with a warning
    drive.add("u3", "日期坏了.pdf", PDF, ROOT, modified="yesterday")
    with running_drive(tmp_path, drive) as (drive, key_file):
        pull = source(drive, key_file, minutes_folder=None).pull()

    assert names(pull) == ["📄 交付清单 — v1.xlsx", "日期坏了.pdf"]
    assert pull.documents[1].modified is None
    assert len(pull.warnings) == 2
    assert "u2" in pull.warnings[0] and "日期坏了.pdf" in pull.warnings[1]


# --- minutes --------------------------------------------------------------------------------


MIXED_MINUTES = """周会纪要
日期：2026-11-12
参会人：王工、张三

1. 进展
  - 决定：接口采用 REST，版本号放在路径里
  * decision: keep the Friday demo
  • 待办：李四 周三前补齐测试数据
  （2）todo：更新部署文档
  ·  Action : book the UAT room
  3) ACTION：确认验收标准
  [x] 待办：@王工 发会议纪要
  - 待办：张三：提交接口文档，截止 11月20日
Decisions are hard (not an item)
决定
"""


def test_minutes_are_exported_as_text_and_parsed(tmp_path):
    drive = project_drive()
    drive.add("m-3", "周会纪要（第 7 次）", GOOGLE_DOC, MINUTES, text=MIXED_MINUTES)
    edited = "2026-11-18T23:30:00Z"  # 11-19 in Shanghai: the source knows no project timezone
    drive.add("m-4", "no date here", GOOGLE_DOC, MINUTES, modified=edited, text="Decision：可以\n")
    drive.add("m-pdf", "scan.pdf", PDF, MINUTES)  # not a Google Doc: listed, never exported
    with running_drive(tmp_path, drive) as (drive, key_file):
        pull = source(drive, key_file).pull()

    by_doc = {}
    for item in pull.minutes:
        by_doc.setdefault(item.document, []).append((item.kind, item.text))
    assert by_doc["周会纪要（第 7 次）"] == [
        ("decision", "接口采用 REST，版本号放在路径里"),
        ("decision", "keep the Friday demo"),
        ("action", "李四 周三前补齐测试数据"),
        ("action", "更新部署文档"),
        ("action", "book the UAT room"),
        ("action", "确认验收标准"),
        ("action", "发会议纪要"),
        ("action", "提交接口文档"),
    ]
    # Owners, due dates and ticks come through; a date without a year takes the meeting's.
    *_, sent, spec = (m for m in pull.minutes if m.document == "周会纪要（第 7 次）")
    assert (sent.owner, sent.due, sent.done) == ("王工", None, True)
    assert (spec.owner, str(spec.due), spec.done) == ("张三", "2026-11-20", False)
    assert by_doc["2026-11-16 周会纪要"] == [
        ("decision", "采用方案 A"),
        ("action", "张三 周五前提交接口文档"),
    ]
    assert by_doc["no date here"] == [("decision", "可以")]
    dated = {m.document: m.date for m in pull.minutes}
    assert str(dated["周会纪要（第 7 次）"]) == "2026-11-12"  # the header's date
    assert str(dated["2026-11-16 周会纪要"]) == "2026-11-16"  # the title's date
    assert str(dated["no date here"]) == "2026-11-18"  # the last edit's UTC date
    item = pull.minutes[0]
    assert (
        item.url
        == f"https://docs.google.com/document/d/{item_id(pull, item.document)}/edit?usp=drivesdk"
    )
    assert all(m.source == "gdrive" for m in pull.minutes)
    assert {"scan.pdf", "周会纪要（第 7 次）"} <= set(names(pull))  # minutes are documents too
    exported = {s.path.split("/")[-2] for s in drive.exports()}
    assert exported == {"m-1", "m-2", "m-3", "m-4"}


def item_id(pull: SourcePull, name: str) -> str:
    return next(d.id for d in pull.documents if d.name == name)


def test_a_minutes_doc_that_cannot_be_exported_is_skipped_and_retried_next_time(served):
    drive, key_file = served
    drive.faults.append(Fault(403, "exportSizeLimitExceeded", path="/m-1/export"))
    src = source(drive, key_file)
    first = src.pull()

    assert {m.document for m in first.minutes} == {"Kickoff notes"}
    assert any(
        "2026-11-16 周会纪要" in w and "exportSizeLimitExceeded" in w for w in first.warnings
    )
    second = src.pull(PullRequest(as_of=AS_OF, cursor=first.cursor, last_full=AS_OF))
    assert second.complete
    assert {m.document for m in second.minutes} == {"2026-11-16 周会纪要", "Kickoff notes"}


# --- incremental ----------------------------------------------------------------------------


def test_an_unchanged_drive_is_listed_but_its_minutes_are_not_exported_again(served):
    drive, key_file = served
    src = source(drive, key_file)
    first = src.pull(PullRequest(as_of=AS_OF))
    assert first.complete and len(drive.exports()) == 2

    later = PullRequest(as_of=AS_OF + timedelta(hours=1), cursor=first.cursor, last_full=AS_OF)
    drive.seen.clear()
    second = src.pull(later)
    assert not second.complete
    assert second.minutes == () and names(second) == names(first)
    assert second.cursor == first.cursor
    assert drive.exports() == []
    assert len(drive.api_requests()) == 5  # two folder checks and three folder listings

    drive.files["f-req"].modified = "2026-11-20T09:00:00.000Z"  # a deliverable edited
    third = src.pull(later)
    assert not third.complete and drive.exports() == []
    assert third.documents[0].modified == datetime(2026, 11, 20, 9, tzinfo=UTC)

    drive.files["m-2"].modified = "2026-11-20T09:05:00.000Z"  # the minutes edited
    fourth = src.pull(later)
    assert fourth.complete and len(fourth.minutes) == 4 and len(drive.exports()) == 2


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.add("f-new", "新文件.pdf", PDF, ROOT),
        lambda d: setattr(d.files["f-plan"], "trashed", True),
        lambda d: d.add("m-new", "2026-11-19 评审纪要", GOOGLE_DOC, MINUTES, text="决定：通过"),
    ],
    ids=["file added", "file removed", "minutes added"],
)
def test_a_file_added_or_removed_makes_a_complete_pull(served, change):
    drive, key_file = served
    src = source(drive, key_file)
    first = src.pull()
    change(drive)
    second = src.pull(PullRequest(as_of=AS_OF, cursor=first.cursor, last_full=AS_OF))
    assert second.complete and second.cursor != first.cursor
    assert len(second.minutes) >= 4


def test_a_daily_full_pull_exports_again(served):
    drive, key_file = served
    src = source(drive, key_file)
    first = src.pull()
    stale = PullRequest(as_of=AS_OF, cursor=first.cursor, last_full=AS_OF - timedelta(days=1))
    assert src.pull(stale).complete and len(drive.exports()) == 4


def test_the_core_keeps_the_minutes_of_an_incremental_pull(served, tmp_path):
    drive, key_file = served
    project = tiny_project(key_file, drive)
    src = source(drive, key_file)
    first = src.pull(PullRequest(as_of=AS_OF))
    snap1 = evaluate(project, AS_OF, [outcome(first)], None, {})
    later = AS_OF + timedelta(hours=1)
    second = src.pull(PullRequest(as_of=later, cursor=first.cursor, last_full=AS_OF))
    snap2 = evaluate(project, later, [outcome(second, later)], snap1, {})

    assert not second.complete
    assert snap2.minutes == snap1.minutes and len(snap2.minutes) == 4
    assert snap2.documents == snap1.documents


# --- being gentle, and failing clearly --------------------------------------------------------


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
def test_a_403_rate_limit_backs_off_and_succeeds(served, reason):
    drive, key_file = served
    drive.faults.append(Fault(403, reason, times=2, path="/files"))
    sleeps = Sleeps()
    pull = source(drive, key_file, sleeps=sleeps).pull()

    assert names(pull) == list(PROJECT_DOCUMENTS)
    assert len(sleeps) == 2 and all(0 <= s <= 0.01 for s in sleeps)


def test_a_429_waits_as_told(served):
    drive, key_file = served
    drive.faults.append(Fault(429, "rateLimitExceeded", retry_after="7", path="/files"))
    sleeps = Sleeps()
    pull = source(drive, key_file, sleeps=sleeps).pull()
    assert len(pull.documents) == 5 and sleeps == [7.0]


def test_a_5xx_storm_gives_up_after_the_bounded_tries(served):
    drive, key_file = served
    drive.faults.append(Fault(503, "backendError", times=1000))
    sleeps = Sleeps()
    with pytest.raises(SourceError, match=r"HTTP 503 backendError after 4 tries") as caught:
        source(drive, key_file, tries=4, sleeps=sleeps).pull()
    assert len(drive.api_requests()) == 4 and len(sleeps) == 3
    assert f"opening folder {ROOT}" in str(caught.value)


def test_a_timeout_is_retried_then_the_source_gives_up(served):
    drive, key_file = served
    drive.delay, drive.delay_times = 2.0, 1
    assert len(source(drive, key_file, timeout_seconds=0.3).pull().documents) == 5

    drive.delay_times = None
    started = time.monotonic()
    with pytest.raises(SourceError, match="timed out after 2 tries"):
        source(drive, key_file, tries=2, timeout_seconds=0.3).pull()
    assert time.monotonic() - started < 1.5


def test_a_permission_403_is_not_retried_and_says_what_to_share(served):
    drive, key_file = served
    drive.faults.append(Fault(403, "insufficientFilePermissions", path=ROOT))
    with pytest.raises(SourceError) as caught:
        source(drive, key_file).pull()
    message = str(caught.value)
    assert ROOT in message and ACCOUNT in message and "Viewer" in message
    assert "insufficientFilePermissions" in message
    assert "PRIVATE KEY" not in message
    assert len(drive.api_requests()) == 1


def test_a_folder_not_shared_with_the_account_is_an_error_not_an_empty_folder(served):
    drive, key_file = served
    drive.hidden.add(ROOT)  # Drive lists an unshared folder as empty, and 404s on it
    with pytest.raises(SourceError, match=rf"not found \(notFound\).*{ACCOUNT} needs read access"):
        source(drive, key_file).pull()


def test_a_file_id_configured_as_the_folder(served):
    drive, key_file = served
    with pytest.raises(SourceError, match="f-req is not a folder"):
        source(drive, key_file, folder="f-req", minutes_folder=None).pull()


def test_a_missing_credentials_file_is_named(served, tmp_path):
    drive, _ = served
    missing = tmp_path / "nowhere" / "sa.json"
    with pytest.raises(SourceError, match=f"{missing}: no such file"):
        source(drive, missing).pull()
    assert drive.seen == []


def test_an_unset_credentials_variable(served, monkeypatch):
    drive, _ = served
    monkeypatch.delenv("STAGECAST_TEST_GOOGLE_KEY", raising=False)
    with pytest.raises(SourceError, match="STAGECAST_TEST_GOOGLE_KEY is not set"):
        source(drive, "env:STAGECAST_TEST_GOOGLE_KEY").pull()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json {", "not a JSON key file"),
        (json.dumps({"type": "external_account", "secret": "s3cr3t"}), "unsupported type"),
        (
            json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----x"}),
            "service_account without client_email, token_uri",
        ),
        (
            json.dumps(
                {
                    "type": "service_account",
                    "client_email": ACCOUNT,
                    "token_uri": "http://127.0.0.1:9/token",
                    "private_key": BAD_PEM,
                }
            ),
            "unusable service_account credentials",
        ),
    ],
    ids=["not json", "unsupported type", "missing fields", "bad key"],
)
def test_an_unusable_credentials_file_is_named_never_quoted(served, tmp_path, content, says):
    drive, _ = served
    key_file = tmp_path / "bad.json"
    key_file.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        source(drive, key_file).pull()
    message = str(caught.value)
    assert str(key_file) in message and says in message
    assert "PRIVATE KEY" not in message and "s3cr3t" not in message and "garbage" not in message


def test_a_key_the_token_endpoint_refuses(served, tmp_path):
    drive, key_file = served
    from cryptography.hazmat.primitives.asymmetric import rsa

    drive.public_key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(
        SourceError, match=r"refused the credentials in .*sa\.json \(invalid_grant\)"
    ):
        source(drive, key_file).pull()
    assert drive.api_requests() == []


def test_an_authorized_user_file_works_too(served, tmp_path):
    drive, _ = served
    user_file = authorized_user_file(tmp_path, drive)
    pull = source(drive, user_file).pull()
    assert names(pull) == list(PROJECT_DOCUMENTS) and drive.token_requests == 0


def test_requests_in_flight_never_exceed_max_concurrency(tmp_path, monkeypatch):
    monkeypatch.setattr(gdrive, "HOST_LIMITS", HostLimits())  # a fresh registry: ports recur
    drive = project_drive()
    drive.delay = 0.02
    with running_drive(tmp_path, drive) as (drive, key_file):
        sources = [source(drive, key_file, max_concurrency=2) for _ in range(6)]
        errors: list[BaseException] = []

        def pull(src: DriveSource) -> None:
            try:
                src.pull()
            except BaseException as err:  # reported below, in the test's thread
                errors.append(err)

        threads = [threading.Thread(target=pull, args=(s,)) for s in sources]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert drive.peak_in_flight == 2
    assert sum(s.requests_made for s in sources) == len(drive.api_requests()) == 6 * 7


# --- required documents through the core -----------------------------------------------------


def tiny_project(key_file: Path, drive: FakeDrive) -> ProjectConfig:
    """One Drive source and two stages due today, each requiring a document."""
    return ProjectConfig.model_validate(
        {
            "key": "acme-portal",
            "name": "ACME 客户门户",
            "timezone": "Asia/Shanghai",
            "sources": [
                {
                    "type": "gdrive",
                    "url": drive.base_url,
                    "folder": ROOT,
                    "credentials": str(key_file),
                    "minutes_folder": MINUTES,
                }
            ],
            "stages": [
                {"name": "需求确认", "due": "2026-11-20", "required_docs": ["需求规格说明书"]},
                {
                    "name": "设计",
                    "due": "2026-11-21",
                    "required_docs": ["详细设计说明书", "PROJECT PLAN"],
                },
            ],
        }
    )


def outcome(pull: SourcePull, when: datetime = AS_OF) -> SourceOutcome:
    return SourceOutcome("gdrive", "gdrive", pull, None, when)


def test_required_docs_are_found_by_name_and_a_missing_one_is_flagged(served):
    drive, key_file = served
    project = tiny_project(key_file, drive)
    pulled = build_source(project.sources[0]).pull()  # the registry's gdrive source
    snapshot = evaluate(project, at("2026-11-20 18:00"), [outcome(pulled)], None, {})

    missing = [r for r in snapshot.risks if r.code == "missing_deliverable"]
    assert [(r.subject, r.severity) for r in missing] == [("设计/详细设计说明书", "medium")]
    assert "需求规格说明书 v2.docx" in names(pulled)


def test_the_contract_case_gives_the_documents_it_promises(tmp_path):
    with contract_case(tmp_path) as (src, expected):
        pull = src.pull(PullRequest(as_of=AS_OF))
    assert src.name == "gdrive" and src.type == "gdrive"
    assert tuple(names(pull)) == expected
    assert pull.cursor and pull.complete
