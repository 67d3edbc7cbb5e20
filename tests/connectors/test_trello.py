"""The live Trello source against a local Trello: same tasks as the export, paging, faults,
pacing, incremental sync and what goes over the wire."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import connectors.http
from connectors.http import HostLimits, RetryPolicy
from connectors.sources.base import PullRequest, SourceError, build_source
from connectors.sources.trello import (
    ACTIONS_PAGE,
    HISTORY_ACTIONS,
    KEY_PACERS,
    MAX_CARD_HISTORIES,
    TOKEN_PACERS,
    Rate,
    TrelloSource,
)
from connectors.sources.trello_cards import normalise_board
from connectors.sources.trello_export import TrelloExportSource
from stagecast.models import SourcePull, Task
from tests.connectors.fake_trello import (
    DOING,
    DONE,
    STANDARD_KEYS,
    TODO,
    FakeTrello,
    contract_case,
    object_id,
    stamp,
    standard_board,
)

FAST = RetryPolicy(tries=3, base_delay=0.01, max_delay=0.05)
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
Json = dict[str, Any]


@pytest.fixture
def fake() -> Iterator[FakeTrello]:
    with FakeTrello() as server:
        yield server


def live(fake: FakeTrello, board_id: str, waits: list[float] | None = None, **cfg: Any):
    """A TrelloSource on the fake, with quick retries whose waits are recorded, not slept."""
    record = waits.append if waits is not None else (lambda seconds: None)
    return TrelloSource(fake.config(board_id, **cfg), retry=FAST, sleep=record)


def by_key(pull: SourcePull) -> dict[str, Task]:
    return {task.key: task for task in pull.tasks}


def keys(pull: SourcePull) -> list[str]:
    return [task.key for task in pull.tasks]


def incremental(cursor: str | None) -> PullRequest:
    """A pull moments after a full one: cursor set, last full read an hour ago."""
    return PullRequest(as_of=NOW, cursor=cursor, last_full=NOW - timedelta(hours=1))


def total(fake: FakeTrello) -> int:
    return sum(fake.counts().values())


# --- the same tasks as the export, card for card -------------------------------------------


def export_pull(path: Path, name: str, stage_field: str) -> SourcePull:
    cfg = SimpleNamespace(
        name=name,
        type="trello_export",
        path=path,
        stage_field=stage_field,
        lists=SimpleNamespace(done=[], doing=[]),
    )
    return TrelloExportSource(cfg).pull()


@pytest.mark.samples
@pytest.mark.parametrize(
    ("filename", "count"),
    [("trello-export-2019-gocd.json", 44), ("trello-export-2015-ja.json", 66)],
)
@pytest.mark.parametrize("stage_field", ["label", "list"])
def test_live_board_gives_the_export_tasks_card_for_card(
    fake: FakeTrello, samples: Path, filename: str, count: int, stage_field: str
) -> None:
    board_id = fake.load_export(samples / filename)
    got = live(fake, board_id, name="board", stage_field=stage_field).pull()
    want = export_pull(samples / filename, "board", stage_field)
    assert len(got.tasks) == count
    assert keys(got) == keys(want)
    for mine, theirs in zip(got.tasks, want.tasks, strict=True):
        assert mine == theirs, mine.key
    assert got.warnings == want.warnings == ()
    assert got.complete and got.cursor
    # watermark, one page of history (the export's 1000 hold < 1000 of those), 4 resources
    assert total(fake) == 6


def long_history_board(actions: int = 2500) -> Json:
    """One done card whose move into Done is among its board's oldest actions, then a flood
    of comments on another card, so the move is far beyond the newest 1000 actions."""
    start = datetime(2021, 3, 1, tzinfo=UTC)
    board = standard_board()
    done, busy = board["cards"][2], board["cards"][1]
    done["dateLastActivity"] = stamp(start + timedelta(days=30))  # a later edit
    history = [
        {
            "id": object_id(start, 1),
            "type": "createCard",
            "date": stamp(start),
            "data": {"card": {"id": done["id"]}, "list": {"id": DOING}},
        },
        {
            "id": object_id(start + timedelta(hours=1), 2),
            "type": "updateCard",
            "date": stamp(start + timedelta(hours=1)),
            "data": {
                "card": {"id": done["id"], "idList": DONE},
                "old": {"idList": DOING},
                "listBefore": {"id": DOING, "name": "Doing"},
                "listAfter": {"id": DONE, "name": "Done"},
            },
        },
    ]
    for n in range(actions - len(history)):
        when = start + timedelta(days=1, minutes=n)
        history.append(
            {
                "id": object_id(when, 10 + n),
                "type": "commentCard",
                "date": stamp(when),
                "data": {"card": {"id": busy["id"]}, "text": f"comment {n}"},
            }
        )
    board["actions"] = history[::-1]  # newest first, as Trello lists them
    return board


def test_actions_are_paged_past_the_1000_an_export_keeps(fake: FakeTrello) -> None:
    board = long_history_board(2500)
    board_id = fake.add_board(board)
    tasks = by_key(live(fake, board_id).pull())
    assert tasks["doneCard"].done_at == datetime(2021, 3, 1, 1, 0, tzinfo=UTC)  # the old move
    assert tasks["doneCard"].created == datetime(2021, 3, 1, tzinfo=UTC)
    assert tasks["doingCrd"].last_comment == "comment 2497"

    history = [s for s in fake.seen if s.query.get("filter") == [HISTORY_ACTIONS]]
    pages = [(s.query["limit"], s.query.get("before")) for s in history]
    newest_first = board["actions"]
    assert pages == [  # 1000 + 1000 + 500, each page starting below the last one's oldest
        ([str(ACTIONS_PAGE)], None),
        ([str(ACTIONS_PAGE)], [newest_first[999]["id"]]),
        ([str(ACTIONS_PAGE)], [newest_first[1999]["id"]]),
    ]

    # An export holds only the newest 1000 actions: the move is lost, done_at falls back.
    exported = {**board, "actions": board["actions"][:1000]}
    from_export = by_key(normalise_board(exported, source="x"))["doneCard"]
    assert from_export.done_at == datetime(2021, 3, 31, tzinfo=UTC)


# --- what is and is not a task -------------------------------------------------------------


def test_archived_cards_and_cards_in_archived_lists_are_not_tasks(fake: FakeTrello) -> None:
    pull = live(fake, fake.add_board(standard_board())).pull()
    assert tuple(keys(pull)) == STANDARD_KEYS
    assert "archived" not in keys(pull) and "inOldLst" not in keys(pull)
    lists = next(s for s in fake.seen if s.path.endswith("/lists"))
    assert lists.query["filter"] == ["all"]  # archived lists are fetched, so they are known
    cards = next(s for s in fake.seen if s.path.endswith("/cards"))
    assert cards.query["filter"] == ["open"]


def test_malformed_cards_are_skipped_with_a_warning(
    fake: FakeTrello, caplog: pytest.LogCaptureFixture
) -> None:
    board = standard_board()
    bad = {**board["cards"][0], "id": "5f10000000000000000000aa", "shortLink": "badDue12"}
    board["cards"] += [{**bad, "name": "Broken due", "due": "next tuesday"}, "junk"]
    with caplog.at_level(logging.WARNING):
        pull = live(fake, fake.add_board(board)).pull()
    assert tuple(keys(pull)) == STANDARD_KEYS
    assert pull.warnings == (
        "card 'Broken due' (id 5f10000000000000000000aa): unparseable due 'next tuesday'; skipped",
        "card #8: not a JSON object; skipped",  # the 8th card served (archived ones are not)
    )
    assert all(w in caplog.messages for w in pull.warnings)


def test_unicode_everywhere(fake: FakeTrello) -> None:
    board = standard_board()
    board["lists"] += [
        {"id": "5f00000000000000000000c1", "name": "完成", "closed": False},
        {"id": "5f00000000000000000000c2", "name": "进行中", "closed": False},
    ]
    board_id = fake.add_board(board)
    unicode_id = board["cards"][4]["id"]
    fake.move_card(board_id, unicode_id, "5f00000000000000000000c2")
    fake.comment(board_id, unicode_id, "已确认 — ok 👍 (مرحبا)")
    task = by_key(live(fake, board_id, lists={"done": ["已验收"]}).pull())["unicode1"]
    assert (task.title, task.status, task.state) == ("设计评审 ✅", "进行中", "in_progress")
    assert task.labels == task.stage_values == ("设计",)
    assert task.last_comment == "已确认 — ok 👍 (مرحبا)"
    move = fake.move_card(board_id, unicode_id, "5f00000000000000000000c1")
    moved = by_key(live(fake, board_id).pull())["unicode1"]
    assert (moved.status, moved.state) == ("完成", "done")
    assert moved.done_at == datetime.fromisoformat(move["date"])


# --- faults --------------------------------------------------------------------------------


@pytest.mark.parametrize("retry_after", ["2", None])
def test_429_waits_then_succeeds(fake: FakeTrello, retry_after: str | None) -> None:
    board_id = fake.add_board(standard_board())
    fake.faults.rate_limited, fake.faults.retry_after = 1, retry_after
    waits: list[float] = []
    pull = live(fake, board_id, waits).pull()
    assert tuple(keys(pull)) == STANDARD_KEYS
    assert [s.status for s in fake.seen].count(429) == 1
    assert total(fake) == 7  # the six requests of a full pull, one of them twice
    if retry_after:
        assert waits == [2.0]
    else:
        assert len(waits) == 1 and 0 <= waits[0] <= FAST.base_delay


def test_5xx_storm_makes_the_source_unavailable_after_bounded_tries(fake: FakeTrello) -> None:
    board_id = fake.add_board(standard_board())
    fake.faults.server_errors, fake.faults.error_status = 100, 502
    waits: list[float] = []
    with pytest.raises(SourceError, match="HTTP 502 after 3 tries") as err:
        live(fake, board_id, waits).pull()
    assert str(err.value).startswith(f"Trello board {board_id} at 127.0.0.1:")
    assert total(fake) == FAST.tries and len(waits) == FAST.tries - 1


def test_timeout_makes_the_source_unavailable(fake: FakeTrello) -> None:
    board_id = fake.add_board(standard_board())
    fake.faults.slow, fake.faults.slow_seconds = 100, 0.5
    with pytest.raises(SourceError, match="timed out after 3 tries"):
        live(fake, board_id, timeout_seconds=0.1).pull()
    assert total(fake) == FAST.tries


@pytest.mark.parametrize("wrong", ["token", "key"])
def test_refused_credentials_name_what_to_check_never_the_value(
    fake: FakeTrello, wrong: str, caplog: pytest.LogCaptureFixture
) -> None:
    board_id = fake.add_board(standard_board())
    cfg = fake.config(board_id)
    sent = {"key": fake.key, "token": fake.token}
    setattr(fake, wrong, "0" * 32)  # the server now expects another one
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceError) as err:
        TrelloSource(cfg, retry=FAST).pull()
    message = str(err.value)
    ref = getattr(cfg, wrong)
    assert message == (
        f"Trello board {board_id} at {fake.url.removeprefix('http://')}: "
        f"Trello refused the credentials: check `{wrong}` ({ref})"
    )
    assert total(fake) == 1  # a 401 is not retried
    for secret in sent.values():
        assert secret not in message and secret not in caplog.text


def test_unknown_board_and_invalid_id(fake: FakeTrello) -> None:
    fake.add_board(standard_board())
    with pytest.raises(SourceError, match=r"not found \(HTTP 404 .*check `board`"):
        live(fake, "5f00000000000000000000ff").pull()
    with pytest.raises(SourceError, match="board id is not valid"):
        live(fake, "no-such-board").pull()


def test_missing_secret_names_the_variable(fake: FakeTrello) -> None:
    cfg = fake.config(fake.add_board(standard_board()))
    del os.environ[cfg.token.name]
    with pytest.raises(SourceError, match=f"environment variable {cfg.token.name} is not set"):
        TrelloSource(cfg).pull()
    assert total(fake) == 0


# --- gentleness ----------------------------------------------------------------------------


def test_pacing_keeps_every_window_under_the_rate(fake: FakeTrello) -> None:
    calls, period = 5, 0.5
    fake.rate_limit = (calls, period)  # the server refuses like Trello beyond this
    source = TrelloSource(
        fake.config(fake.add_board(standard_board())),
        retry=FAST,
        token_rate=Rate(calls, period),
        key_rate=Rate(3 * calls, period),
    )
    for _ in range(3):
        source.pull()
    arrivals = sorted(seen.at for seen in fake.seen)
    assert len(arrivals) == 18 and fake.throttled == 0
    assert min(b - a for a, b in zip(arrivals, arrivals[calls:], strict=False)) >= period


def test_pacers_are_shared_per_credential_and_keyed_by_a_hash(fake: FakeTrello) -> None:
    rate = Rate(100, 10.0)
    assert TOKEN_PACERS.pacer(fake.token, rate) is TOKEN_PACERS.pacer(fake.token, rate)
    assert TOKEN_PACERS.pacer(fake.token, rate) is not TOKEN_PACERS.pacer("other", rate)
    live(fake, fake.add_board(standard_board())).pull()
    held = "".join(TOKEN_PACERS.fingerprints() + KEY_PACERS.fingerprints())
    assert fake.token not in held and fake.key not in held
    assert TOKEN_PACERS.fingerprint(fake.token) in TOKEN_PACERS.fingerprints()
    assert KEY_PACERS.fingerprint(fake.key) in KEY_PACERS.fingerprints()


def test_requests_in_flight_never_exceed_max_concurrency(
    fake: FakeTrello, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connectors.http, "HOST_LIMITS", HostLimits())
    board_id = fake.add_board(standard_board())
    fake.faults.latency = 0.05
    live(fake, board_id, max_concurrency=2).pull()
    assert fake.peak_in_flight == 2  # the four board resources are read side by side


def test_no_body_on_get_and_credentials_only_in_the_header(fake: FakeTrello) -> None:
    board_id = fake.add_board(standard_board())
    source = live(fake, board_id)
    first = source.pull()
    fake.comment(board_id, first.tasks[0].id, "hello")
    source.pull(incremental(first.cursor))
    assert total(fake) > 6
    for seen in fake.seen:
        assert seen.method == "GET" and seen.body == b""
        assert seen.headers.get("content-length", "0") == "0"
        assert "transfer-encoding" not in seen.headers
        assert not {"key", "token"} & set(seen.query)
        assert fake.token not in seen.path and fake.key not in seen.path
        assert seen.headers["authorization"] == (
            f'OAuth oauth_consumer_key="{fake.key}", oauth_token="{fake.token}"'
        )


# --- incremental sync ----------------------------------------------------------------------


def merged(before: Sequence[Task], pull: SourcePull) -> list[Task]:
    """What the pipeline does with an incremental pull (SourcePull's contract)."""
    fresh = {task.id: task for task in pull.tasks}
    kept = [fresh.pop(t.id, t) for t in before if t.id not in pull.removed]
    return kept + [t for t in pull.tasks if t.id in fresh]


def test_a_quiet_second_pull_makes_three_requests(fake: FakeTrello) -> None:
    board_id = fake.add_board(standard_board())
    source = live(fake, board_id)
    first = source.pull(PullRequest(as_of=NOW))
    assert first.complete and total(fake) == 6
    fake.reset()
    made = source.requests_made
    second = source.pull(incremental(first.cursor))
    assert source.requests_made - made == 3
    assert (second.complete, second.tasks, second.removed) == (False, (), ())
    assert second.cursor == first.cursor
    assert sorted(fake.counts()) == [
        f"/1/boards/{board_id}/{what}" for what in ("actions", "cards", "lists")
    ]
    since = next(s for s in fake.seen if s.path.endswith("/actions")).query["since"]
    assert since == [first.cursor]


def test_second_pull_returns_the_changed_cards_and_the_removed_ids(fake: FakeTrello) -> None:
    board_id = fake.add_board(standard_board())
    source = live(fake, board_id)
    first = source.pull()
    ids = {t.key: t.id for t in first.tasks}
    move = fake.move_card(board_id, ids["doingCrd"], DONE)
    fake.comment(board_id, ids["todoCard"], "still waiting for the client")
    fake.archive_card(board_id, ids["blockCrd"])
    fake.delete_card(board_id, ids["unicode1"])
    fake.add_card(board_id, "newCard1", TODO)
    fake.reset()

    second = source.pull(incremental(first.cursor))

    assert second.complete is False
    assert keys(second) == ["todoCard", "doingCrd", "newCard1"]
    assert set(second.removed) == {ids["blockCrd"], ids["unicode1"]}
    # actions since, lists, cards, members, and the histories of the two older cards
    assert total(fake) == 6
    assert sorted(p.split("/")[3] for p in fake.counts() if p.startswith("/1/cards/")) == sorted(
        [ids["todoCard"], ids["doingCrd"]]
    )
    done = by_key(second)["doingCrd"]
    assert (done.state, done.done_at) == ("done", datetime.fromisoformat(move["date"]))
    assert by_key(second)["todoCard"].last_comment == "still waiting for the client"
    assert second.cursor is not None and second.cursor > (first.cursor or "")

    # Laid over the first pull, it is exactly what a full read now gives.
    full = source.pull()
    assert merged(first.tasks, second) == list(full.tasks)

    fake.reset()
    third = source.pull(incremental(second.cursor))
    assert (third.tasks, third.removed, total(fake)) == ((), (), 3)


def test_archiving_a_list_removes_its_cards(fake: FakeTrello) -> None:
    board_id = fake.add_board(standard_board())
    source = live(fake, board_id)
    first = source.pull()
    fake.archive_list(board_id, DOING)
    second = source.pull(incremental(first.cursor))
    assert second.tasks == () and second.removed == (by_key(first)["doingCrd"].id,)


def test_many_changed_cards_are_read_in_full_instead(fake: FakeTrello) -> None:
    board = standard_board()
    template = board["cards"][0]
    board["cards"] += [
        {**template, "id": f"5f20000000000000000000{n:02x}", "shortLink": f"extra{n:03d}"}
        for n in range(MAX_CARD_HISTORIES)
    ]
    board_id = fake.add_board(board)
    source = live(fake, board_id)
    first = source.pull()
    for task in first.tasks[: MAX_CARD_HISTORIES + 1]:
        fake.comment(board_id, task.id, "ping")
    second = source.pull(incremental(first.cursor))
    assert second.complete is True and len(second.tasks) == len(first.tasks)
    assert all(t.last_comment == "ping" for t in second.tasks[: MAX_CARD_HISTORIES + 1])


def test_a_day_old_full_read_or_a_bad_cursor_reads_everything(fake: FakeTrello) -> None:
    source = live(fake, fake.add_board(standard_board()))
    cursor = source.pull().cursor
    stale = PullRequest(as_of=NOW, cursor=cursor, last_full=NOW - timedelta(days=1))
    assert source.pull(stale).complete is True
    assert source.pull(incremental("not a time")).complete is True


# --- registry and contract -----------------------------------------------------------------


def test_registry_builds_the_live_source(fake: FakeTrello) -> None:
    cfg = fake.config(fake.add_board(standard_board()), name="acme-board")
    source = build_source(cfg)
    assert isinstance(source, TrelloSource)
    assert (source.name, source.type) == ("acme-board", "trello")
    assert {t.source for t in source.pull().tasks} == {"acme-board"}


def test_contract_case() -> None:
    with contract_case() as (source, expected):
        pull = source.pull()
    assert tuple(keys(pull)) == expected
    states = {t.key: (t.state, t.blocked) for t in pull.tasks}
    assert states["doneCard"] == ("done", False)
    assert states["blockCrd"] == ("todo", True)
    assert by_key(pull)["doneCard"].done_at == datetime(2020, 7, 19, 9, 30, tzinfo=UTC)
