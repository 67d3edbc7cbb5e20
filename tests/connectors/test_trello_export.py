"""Trello board data to tasks: real exports from shared/samples, and small boards per rule."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.sources.base import PullRequest, SourceError, build_source
from connectors.sources.trello_cards import created_from_id, normalise_board
from connectors.sources.trello_export import TrelloExportSource, read_board
from stagecast.models import SourcePull, Task
from stagecast.normalise import parse_moment

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "samples"
JA_2015 = "trello-export-2015-ja.json"
GOCD_2019 = "trello-export-2019-gocd.json"


def utc(text: str) -> datetime:
    """A literal UTC moment as the tests write it."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def export_config(path: Path, **overrides: Any) -> SimpleNamespace:
    """A `trello_export` config entry with the attributes the source reads."""
    values: dict[str, Any] = {
        "name": None,
        "type": "trello_export",
        "path": path,
        "stage_field": "label",
        "lists": SimpleNamespace(done=[], doing=[]),
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def pull_sample(filename: str, **overrides: Any) -> SourcePull:
    """Pull a real export from shared/samples through the export source."""
    if not SAMPLES.is_dir():
        pytest.skip(f"real Trello exports not found: {SAMPLES.resolve()} is absent")
    return TrelloExportSource(export_config(SAMPLES / filename, **overrides)).pull()


def by_key(pull: SourcePull) -> dict[str, Task]:
    """Tasks by their key (the card's shortLink)."""
    return {task.key: task for task in pull.tasks}


def states(pull: SourcePull) -> Counter[str]:
    """How many tasks are in each state."""
    return Counter(task.state for task in pull.tasks)


# --- the 2015 Japanese board: older format (no top-level labels, no dueComplete) -----------
#
# Figures checked by hand with jq/python over the raw file: 67 cards, one archived (WRVSl4ql,
# in やりたいこと); the archived list 中止 holds no card. Open cards per list: やりたいこと 24,
# やること 8 (both todo), 作業中 7 (in progress by default), クローズ 27 (done by default).


@pytest.mark.samples
def test_2015_counts_by_state() -> None:
    pull = pull_sample(JA_2015)
    assert len(pull.tasks) == 66
    assert states(pull) == {"done": 27, "in_progress": 7, "todo": 32}
    assert pull.warnings == ()


@pytest.mark.samples
def test_2015_archived_card_is_not_a_task() -> None:
    assert "WRVSl4ql" not in by_key(pull_sample(JA_2015))


@pytest.mark.samples
def test_2015_done_card_takes_done_at_from_its_move_into_the_done_list() -> None:
    task = by_key(pull_sample(JA_2015))["9pTg4wKh"]
    assert task.state == "done"
    assert task.status == "クローズ"
    assert task.title == "まとめ項目「商品」を作る"
    assert task.url == "https://trello.com/c/9pTg4wKh"
    assert task.assignee == "みやまえ"
    assert task.labels == ("機能",)
    # updateCard 作業中 → クローズ at 2015-01-15T09:40:05.149Z; dateLastActivity is a later
    # bulk touch (2015-02-24T17:47:55.713Z) that must not count as completion.
    assert task.done_at == utc("2015-01-15T09:40:05.149")
    assert task.updated == utc("2015-02-24T17:47:55.713")
    assert task.created == utc("2015-01-10T10:28:10.460")  # its createCard action
    assert task.due is None
    assert task.type is None and task.priority is None and task.resolution is None


@pytest.mark.samples
def test_2015_in_progress_card() -> None:
    task = by_key(pull_sample(JA_2015))["POpcFjGN"]
    assert (task.state, task.status) == ("in_progress", "作業中")
    assert task.assignee == "yasunori.kinoshita"  # that member's fullName
    assert task.done_at is None
    assert task.created == utc("2015-02-24T17:49:47.383")


@pytest.mark.samples
def test_2015_last_comment_is_the_newest() -> None:
    tasks = by_key(pull_sample(JA_2015))
    # two comments, 06:28:31 and 06:28:58 on 2015-02-14; the later one wins
    assert tasks["ziwjvOzm"].last_comment == "Paperclipが元ファイル名で一時保存しようとしている？"
    assert tasks["DozZNnLq"].last_comment == "そもそも０には設定できなかった。空欄にすればok。"
    assert tasks["DozZNnLq"].done_at == utc("2015-01-15T09:42:37.011")
    assert tasks["liv8A7PZ"].last_comment is None


@pytest.mark.samples
def test_2015_stage_values_by_label_and_by_list() -> None:
    by_label = pull_sample(JA_2015)
    assert by_label.tasks[0].key == "liv8A7PZ"  # the export's card order is kept
    assert by_key(by_label)["liv8A7PZ"].stage_values == ("機能",)
    assert by_key(by_label)["uaHu9run"].stage_values == ()  # no label
    first_values = dict.fromkeys(t.stage_values[0] for t in by_label.tasks if t.stage_values)
    assert list(first_values) == ["機能", "バグ"]

    by_list = pull_sample(JA_2015, stage_field="list")
    assert by_key(by_list)["liv8A7PZ"].stage_values == ("やりたいこと",)
    first_lists = dict.fromkeys(t.stage_values[0] for t in by_list.tasks)
    assert list(first_lists) == ["やりたいこと", "やること", "作業中", "クローズ"]


# --- the 2019 GoCD board: current format, 18 lists (11 archived), 1000 actions --------------
#
# Checked by hand: 122 cards; open cards in open lists: Backlog/Future Work/Ideas 18, To Do 15,
# Ready to merge 1 (todo), In Progress 7, Done 3; Ready for QA is open but empty. No open card
# has dueComplete true, and every card in an archived list is itself archived.


@pytest.mark.samples
def test_2019_counts_by_state() -> None:
    pull = pull_sample(GOCD_2019)
    assert len(pull.tasks) == 44
    assert states(pull) == {"done": 3, "in_progress": 7, "todo": 34}
    assert pull.warnings == ()
    assert not any(task.blocked for task in pull.tasks)


@pytest.mark.samples
def test_2019_archived_cards_and_archived_lists_are_excluded() -> None:
    keys = by_key(pull_sample(GOCD_2019)).keys()
    assert "EhAKQWMW" not in keys  # archived card in the open list In Progress
    assert "tF5xe1jw" not in keys  # card in the archived list Landing Page
    assert "NEVmznSl" not in keys  # archived card in Done (dueComplete true)


@pytest.mark.samples
def test_2019_done_cards_take_the_move_into_done() -> None:
    tasks = by_key(pull_sample(GOCD_2019))
    first = tasks["U7P5HuEL"]
    assert first.state == "done"
    assert first.done_at == utc("2019-06-04T18:31:41.843")  # updateCard Ready for QA → Done
    assert first.updated == utc("2019-06-05T20:03:33.955")
    assert first.created == utc("2019-06-03T21:27:02.513")  # its createCard action
    assert first.assignee is None and first.labels == ()
    assert tasks["uGnyuBfD"].done_at == utc("2019-06-10T21:27:46.757")
    assert tasks["uGnyuBfD"].assignee == "Ankit"
    assert tasks["ZYR7bT37"].done_at == utc("2019-06-10T21:31:41.687")
    assert tasks["ZYR7bT37"].last_comment == (
        "Verified on GoCD Version: 19.5.0 (9261-c66edbe5b77511d884d7e5d889708ea63bdc9253)"
    )


@pytest.mark.samples
def test_2019_card_without_create_action_dates_from_its_id() -> None:
    # Its createCard fell outside the export's 1000 newest actions; id 5ca697c1… is 2019-04-04.
    task = by_key(pull_sample(GOCD_2019))["zXPOe6Ux"]
    assert task.created == utc("2019-04-04T23:48:17")
    assert (task.state, task.status) == ("in_progress", "In Progress")
    assert task.assignee == "kiera"
    assert task.updated == utc("2019-06-12T22:19:30.754")


@pytest.mark.samples
def test_2019_labels_due_and_assignee() -> None:
    tasks = by_key(pull_sample(GOCD_2019))
    multi = tasks["oKWGNx1r"]
    assert multi.stage_values == ("Pipelines as Code", "Add Pipeline")
    assert multi.labels == multi.stage_values
    assert multi.assignee == "Marques Lee"  # first of idMembers
    assert tasks["SYfYXB9t"].assignee == "Marques Lee"  # first of three members
    assert tasks["tT44ZZGY"].due == utc("2019-06-04T19:00:00")
    assert tasks["tT44ZZGY"].assignee == "Steven"
    assert tasks["JK25hKep"].due is None


@pytest.mark.samples
def test_2019_stage_field_list() -> None:
    tasks = by_key(pull_sample(GOCD_2019, stage_field="list"))
    assert tasks["oKWGNx1r"].stage_values == ("Backlog/Future Work/Ideas",)
    assert tasks["oKWGNx1r"].labels == ("Pipelines as Code", "Add Pipeline")


@pytest.mark.samples
def test_2019_configured_lists_are_added_to_the_defaults() -> None:
    # Ready for QA is empty on this board: counting it as done changes nothing.
    qa = pull_sample(GOCD_2019, lists=SimpleNamespace(done=["Ready for QA"], doing=[]))
    assert states(qa) == {"done": 3, "in_progress": 7, "todo": 34}

    merge = pull_sample(GOCD_2019, lists=SimpleNamespace(done=["ready to merge"], doing=[]))
    assert states(merge) == {"done": 4, "in_progress": 7, "todo": 33}
    ready = by_key(merge)["tSRbNl1k"]
    assert ready.state == "done"
    assert ready.done_at == utc(
        "2019-06-12T00:04:48.025"
    )  # updateCard In Progress → Ready to merge

    doing = pull_sample(GOCD_2019, lists=SimpleNamespace(done=[], doing=["To Do"]))
    assert states(doing) == {"done": 3, "in_progress": 22, "todo": 19}


# --- small boards, one rule each ---------------------------------------------------------

TODO, DOING, DONE, CHINESE_DONE, ARCHIVED = (
    "5c0000000000000000000001",
    "5c0000000000000000000002",
    "5c0000000000000000000003",
    "5c0000000000000000000004",
    "5c0000000000000000000005",
)
ALICE = "5b0000000000000000000a11"


def card(short: str, list_id: str = TODO, **fields: Any) -> dict[str, Any]:
    """A card as Trello returns it, with a real-looking id (created 2019-06-01T00:00:00Z)."""
    values: dict[str, Any] = {
        "id": "5cf1c000" + short.encode().hex().ljust(16, "0")[:16],
        "shortLink": short,
        "name": f"Card {short}",
        "idList": list_id,
        "closed": False,
        "dateLastActivity": "2019-06-10T12:00:00.000Z",
        "due": None,
        "dueComplete": False,
        "idMembers": [],
        "idLabels": [],
        "labels": [],
        "shortUrl": f"https://trello.com/c/{short}",
        "url": f"https://trello.com/c/{short}/1-card",
    }
    values.update(fields)
    return values


def lst(list_id: str, name: str, closed: bool = False) -> dict[str, Any]:
    """A board list."""
    return {"id": list_id, "name": name, "closed": closed}


Json = dict[str, Any]


def move(card_id: str, date: str, before: tuple[str, str], after: tuple[str, str]) -> Json:
    """An updateCard action moving a card between lists (ids and names at the time)."""
    return {
        "id": f"a-{date}",
        "type": "updateCard",
        "date": date,
        "data": {
            "card": {"id": card_id, "idList": after[0]},
            "old": {"idList": before[0]},
            "listBefore": {"id": before[0], "name": before[1]},
            "listAfter": {"id": after[0], "name": after[1]},
        },
    }


def board(cards: list[Json], actions: list[Json] | None = None, **extra: Any) -> Json:
    """A board with the default lists (To Do, Doing, Done, 完成, an archived one) and Alice."""
    values: dict[str, Any] = {
        "lists": [
            lst(TODO, "To Do"),
            lst(DOING, "Doing"),
            lst(DONE, "Done"),
            lst(CHINESE_DONE, "完成"),
            lst(ARCHIVED, "Old", closed=True),
        ],
        "members": [{"id": ALICE, "fullName": "Alice Ng", "username": "alice"}],
        "labels": [],
        "actions": actions or [],
        "cards": cards,
    }
    values.update(extra)
    return values


def normalise(data: dict[str, Any], **options: Any) -> SourcePull:
    """Normalise a small board with the export's defaults."""
    return normalise_board(data, source="board", **{"stage_field": "label", **options})


def only(pull: SourcePull) -> Task:
    """The single task of a one-card board."""
    assert len(pull.tasks) == 1, pull
    return pull.tasks[0]


def test_fields_of_a_plain_card() -> None:
    task = only(normalise(board([card("abc", idMembers=[ALICE])])))
    assert task.id == card("abc")["id"]
    assert (task.key, task.title, task.source) == ("abc", "Card abc", "board")
    assert (task.status, task.state) == ("To Do", "todo")
    assert task.url == "https://trello.com/c/abc"
    assert task.assignee == "Alice Ng"
    assert task.updated == utc("2019-06-10T12:00:00")
    assert task.created == utc("2019-06-01T00:00:00")  # 0x5cf1c000 seconds, from the id
    assert task.done_at is None and task.blocked is False and task.last_comment is None


def test_due_complete_in_a_todo_list_is_done_at_last_activity() -> None:
    task = only(normalise(board([card("dc", dueComplete=True, due="2019-06-09T10:00:00.000Z")])))
    assert (task.status, task.state) == ("To Do", "done")
    assert task.done_at == utc("2019-06-10T12:00:00")
    assert task.due == utc("2019-06-09T10:00:00")


def test_due_complete_without_a_move_into_done_uses_last_activity() -> None:
    """SPEC §3: done_at is the last move into a done list, else dateLastActivity."""
    ticked = {
        "id": "a1",
        "type": "updateCard",
        "date": "2019-06-08T09:30:00.000Z",
        "data": {
            "card": {"id": card("dc")["id"], "dueComplete": True},
            "old": {"dueComplete": False},
        },
    }
    done = card("dc", dueComplete=True)
    task = only(normalise(board([done], [ticked])))
    assert task.done_at == parse_moment(done["dateLastActivity"])


def test_older_export_without_due_complete_key() -> None:
    old = card("old", DOING)
    del old["dueComplete"]
    assert only(normalise(board([old]))).state == "in_progress"


def test_done_at_is_the_last_move_into_done() -> None:
    cid = card("redo")["id"]
    actions = [  # newest first, as Trello writes them
        move(cid, "2019-06-07T10:00:00.000Z", (DOING, "Doing"), (DONE, "Done")),
        move(cid, "2019-06-05T10:00:00.000Z", (DONE, "Done"), (DOING, "Doing")),
        move(cid, "2019-06-03T10:00:00.000Z", (TODO, "To Do"), (DONE, "Done")),
    ]
    task = only(normalise(board([card("redo", DONE)], actions)))
    assert task.state == "done"
    assert task.done_at == utc("2019-06-07T10:00:00")


def test_moving_between_done_lists_is_a_move_into_a_done_list() -> None:
    """The SPEC's rule is literal: the last move into a done list, even from another one."""
    cid = card("both")["id"]
    actions = [
        move(cid, "2019-06-09T10:00:00.000Z", (DONE, "Done"), (CHINESE_DONE, "完成")),
        move(cid, "2019-06-04T10:00:00.000Z", (DOING, "Doing"), (DONE, "Done")),
    ]
    task = only(normalise(board([card("both", CHINESE_DONE)], actions)))
    assert task.done_at == utc("2019-06-09T10:00:00")


def test_move_into_a_done_list_under_its_old_name_counts() -> None:
    cid = card("ren")["id"]
    actions = [move(cid, "2019-06-02T10:00:00.000Z", (TODO, "To Do"), (DONE, "Finished"))]
    assert only(normalise(board([card("ren", DONE)], actions))).done_at == utc("2019-06-02T10:00")


def test_done_without_any_move_falls_back_to_last_activity() -> None:
    task = only(normalise(board([card("d", DONE)])))
    assert task.done_at == utc("2019-06-10T12:00:00")


def test_list_names_match_case_insensitively_and_exactly() -> None:
    lists = [lst(TODO, "DONE"), lst(DOING, "in progress"), lst(DONE, "Done soon")]
    pull = normalise(board([card("a", TODO), card("b", DOING), card("c", DONE)], lists=lists))
    assert [t.state for t in pull.tasks] == ["done", "in_progress", "todo"]


def test_configured_lists_add_to_the_defaults() -> None:
    lists = [lst(TODO, "已验收"), lst(DOING, "开发中"), lst(DONE, "Done")]
    cards = [card("a", TODO), card("b", DOING), card("c", DONE)]
    pull = normalise(board(cards, lists=lists), done_lists=["已验收"], doing_lists=["开发中"])
    assert [t.state for t in pull.tasks] == ["done", "in_progress", "done"]


def test_archived_cards_and_cards_in_archived_lists_are_not_tasks() -> None:
    cards = [card("open"), card("gone", closed=True), card("old", ARCHIVED)]
    pull = normalise(board(cards))
    assert [t.key for t in pull.tasks] == ["open"]
    assert pull.warnings == ()


def test_card_in_an_unknown_list_is_skipped_with_a_warning() -> None:
    pull = normalise(board([card("lost", "5c00000000000000000000ff"), card("ok")]))
    assert [t.key for t in pull.tasks] == ["ok"]
    assert len(pull.warnings) == 1
    assert "'Card lost'" in pull.warnings[0]
    assert "5c00000000000000000000ff" in pull.warnings[0]


def test_colour_only_labels_are_ignored() -> None:
    labels = [
        {"id": "l1", "name": "", "color": "green"},
        {"id": "l2", "name": "Design", "color": "red"},
        {"id": "l3", "name": "Build", "color": None},
    ]
    task = only(normalise(board([card("lab", labels=labels, idLabels=["l1", "l2", "l3"])])))
    assert task.labels == ("Design", "Build")
    assert task.stage_values == ("Design", "Build")


def test_label_ids_resolve_through_the_board_labels() -> None:
    top = [{"id": "l2", "name": "Build", "color": "red"}, {"id": "l1", "name": "Design"}]
    data = board([card("ids", idLabels=["l1", "l2"], labels=None)], labels=top)
    del data["cards"][0]["labels"]
    assert only(normalise(data)).stage_values == ("Design", "Build")


def test_label_ids_without_board_labels_give_no_labels() -> None:
    data = board([card("ids", idLabels=["l1"])])
    del data["labels"]
    del data["cards"][0]["labels"]
    assert only(normalise(data)).labels == ()


def test_stage_field_list_uses_the_list_name() -> None:
    labels = [{"id": "l1", "name": "Design"}]
    task = only(normalise(board([card("s", DOING, labels=labels)]), stage_field="list"))
    assert task.stage_values == ("Doing",)
    assert task.labels == ("Design",)


def test_stage_field_must_be_label_or_list() -> None:
    with pytest.raises(ValueError, match="stage_field"):
        normalise(board([]), stage_field="epic")


@pytest.mark.parametrize(
    ("list_name", "label", "blocked"),
    [
        ("Blocked", "", True),
        ("To Do", "Blocker", True),
        ("To Do", "blocked-by-api", True),
        ("To Do", "阻塞中", True),
        ("受阻", "", True),
        ("To Do", "Unblocked", False),
        ("Unblocked", "", False),
        ("To Do", "Blockers", False),
        ("To Do", "", False),
    ],
)
def test_blocked_from_list_or_label(list_name: str, label: str, blocked: bool) -> None:
    labels = [{"id": "l1", "name": label, "color": "red"}]
    data = board([card("b", labels=labels)], lists=[lst(TODO, list_name)])
    assert only(normalise(data)).blocked is blocked


def test_malformed_card_is_skipped_with_a_warning_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cards = [card("good"), card("bad", name="Broken due", due="next tuesday"), card("also")]
    with caplog.at_level(logging.WARNING, logger="connectors.sources.trello_cards"):
        pull = normalise(board(cards))
    assert [t.key for t in pull.tasks] == ["good", "also"]
    bad_id = card("bad")["id"]
    assert pull.warnings == (
        f"card 'Broken due' (id {bad_id}): unparseable due 'next tuesday'; skipped",
    )
    assert pull.warnings[0] in caplog.messages


@pytest.mark.parametrize("missing", ["id", "shortLink"])
def test_card_without_identity_is_skipped(missing: str) -> None:
    broken = card("x")
    del broken[missing]
    pull = normalise(board([broken, card("ok")]))
    assert [t.key for t in pull.tasks] == ["ok"]
    assert f"missing {missing}" in pull.warnings[0]
    assert "'Card x'" in pull.warnings[0]


def test_non_object_card_is_skipped() -> None:
    pull = normalise(board(["junk", card("ok")]))  # type: ignore[list-item]
    assert [t.key for t in pull.tasks] == ["ok"]
    assert pull.warnings == ("card #1: not a JSON object; skipped",)


def test_action_with_a_bad_date_is_ignored_with_a_warning() -> None:
    cid = card("d")["id"]
    bad = move(cid, "soon", (TODO, "To Do"), (DONE, "Done"))
    pull = normalise(board([card("d", DONE)], [bad]))
    assert only(pull).done_at == utc("2019-06-10T12:00:00")
    assert pull.warnings == ("action 'a-soon': unparseable date 'soon'",)


def test_assignee_falls_back_to_username_then_id() -> None:
    members = [{"id": "m1", "fullName": "", "username": "bob"}, {"id": "m2", "fullName": "Cy"}]
    cards = [card("a", idMembers=["m1", "m2"]), card("b", idMembers=["gone"]), card("c")]
    pull = normalise(board(cards, members=members))
    assert [t.assignee for t in pull.tasks] == ["bob", "gone", None]


def test_created_from_the_create_action_and_the_newest_comment() -> None:
    cid = card("c")["id"]
    actions = [
        {"id": "a3", "type": "commentCard", "date": "2019-06-09T08:00:00.000Z",
         "data": {"card": {"id": cid}, "text": "second"}},
        {"id": "a2", "type": "commentCard", "date": "2019-06-09T09:00:00.000Z",
         "data": {"card": {"id": cid}, "text": "newest, listed out of order"}},
        {"id": "a1", "type": "createCard", "date": "2019-06-01T07:00:00.000Z",
         "data": {"card": {"id": cid}, "list": {"id": TODO, "name": "To Do"}}},
    ]  # fmt: skip
    task = only(normalise(board([card("c")], actions)))
    assert task.created == utc("2019-06-01T07:00:00")
    assert task.last_comment == "newest, listed out of order"


def test_url_falls_back_to_the_long_url() -> None:
    task = only(normalise(board([card("u", shortUrl=None)])))
    assert task.url == "https://trello.com/c/u/1-card"


def test_tasks_keep_the_board_card_order() -> None:
    pull = normalise(board([card("z"), card("a", DONE), card("m", DOING)]))
    assert [t.key for t in pull.tasks] == ["z", "a", "m"]


def test_timestamp_helpers() -> None:
    assert parse_moment("2019-06-12T22:19:30.732Z") == datetime(
        2019, 6, 12, 22, 19, 30, 732000, tzinfo=UTC
    )
    assert parse_moment("2019-06-13T06:19:30+08:00") == utc("2019-06-12T22:19:30")
    with pytest.raises(ValueError):
        parse_moment("13/06/2019")
    assert created_from_id("5ca697c18531027d0024d962") == utc("2019-04-04T23:48:17")
    assert created_from_id("card-1") is None


# --- the export file -----------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    """Write an export file under the test's folder."""
    path = tmp_path / "board.json"
    path.write_text(text, encoding="utf-8")
    return path


def test_export_source_reads_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "\ufeff" + json.dumps(board([card("a", DONE), card("b")])))
    source = TrelloExportSource(export_config(path))
    assert (source.name, source.type) == ("trello_export", "trello_export")
    pull = source.pull(PullRequest(as_of=utc("2019-06-12T00:00:00"), cursor="c"))  # ignored
    assert [(t.key, t.state, t.source) for t in pull.tasks] == [
        ("a", "done", "trello_export"),
        ("b", "todo", "trello_export"),
    ]


def test_export_source_passes_its_config(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps(board([card("a", TODO)], lists=[lst(TODO, "已验收")])))
    cfg = export_config(
        path,
        name="acme-board",
        stage_field="list",
        lists=SimpleNamespace(done=["已验收"], doing=[]),
    )
    task = only(build_source(cfg).pull())
    assert (task.source, task.state, task.stage_values) == ("acme-board", "done", ("已验收",))


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "exports" / "board.json"
    with pytest.raises(SourceError, match="no such file") as err:
        TrelloExportSource(export_config(path)).pull()
    assert str(err.value).startswith(str(path))


def test_invalid_json_names_the_place(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "cards": [],\n    oops\n}')
    with pytest.raises(SourceError) as err:
        read_board(path)
    assert str(err.value).startswith(f"{path}: not valid JSON at line 3 column 5: ")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "board.json"
    path.write_bytes(b'{"cards": [], "name": "\xff"}')
    with pytest.raises(SourceError, match="not UTF-8"):
        read_board(path)


@pytest.mark.parametrize(
    "text", ['{"name": "a board"}', '{"cards": []}', "[]", '{"cards": {}, "lists": []}']
)
def test_not_a_board_export(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SourceError, match="not a Trello board export") as err:
        read_board(path)
    assert str(path) in str(err.value)


def test_unknown_source_type() -> None:
    with pytest.raises(ValueError, match="unknown source type 'asana'"):
        build_source(SimpleNamespace(type="asana"))
