"""A daily update missed while nothing ran is caught up once, covering everything since the
last one sent; never one per missed day, never for a project that never had one."""

from __future__ import annotations

from tests.flows.test_delivery_lifecycle import ledger, outbox, pending, report, workspace
from tests.trello_boards import card, write_board


def test_the_missed_update_goes_out_once_covering_everything_since_the_last(tmp_path, run_cli):
    cfg, key = workspace(tmp_path)
    first, _ = report(run_cli, cfg, key, "2026-11-18T17:30")  # Wednesday's, sent
    assert first["team"]["status"] == "sent"
    # Nothing ran on Thursday or Friday; two cards were finished meanwhile.
    write_board(
        tmp_path / "board.json",
        [
            card("B1", "done", done_moves=("2026-11-19T03:00:00Z",)),
            card("B2", "done", done_moves=("2026-11-20T03:00:00Z",)),
        ],
    )
    # Saturday morning: Friday's 17:30 update is the latest due; it is caught up (internal at
    # once, the client's waits for Monday's working hours). Thursday's is not sent at all.
    caught = pending(run_cli, cfg, "2026-11-21T10:00")
    assert sorted((d["channel"], d["status"]) for d in caught) == [
        ("client-group", "deferred"),
        ("team", "sent"),
    ]
    periods = {period for (_, period) in ledger(run_cli, cfg)}
    assert periods == {"2026-11-18", "2026-11-20"}
    (friday,) = [n for n in outbox(tmp_path, key, "team") if n.endswith("2026-11-20.md")]
    text = (tmp_path / ".stagecast" / "outbox" / key / "team" / friday).read_text("utf-8")
    assert "B1" in text and "B2" in text  # both finished since Wednesday's update
    assert pending(run_cli, cfg, "2026-11-21T10:15") == []  # once
    (monday,) = pending(run_cli, cfg, "2026-11-23T09:05")
    assert (monday["channel"], monday["status"]) == ("client-group", "sent")


def test_a_late_regular_run_is_not_doubled_and_a_new_project_is_not_caught_up(tmp_path, run_cli):
    cfg, key = workspace(tmp_path)
    # No daily update was ever made: nothing to catch up (the first comes at its time).
    assert pending(run_cli, cfg, "2026-11-20T19:00") == []
    report(run_cli, cfg, key, "2026-11-19T17:30")
    # Friday 17:50: the 17:30 run may merely be slow; within the grace nothing is made.
    assert pending(run_cli, cfg, "2026-11-20T17:50") == []
    assert {period for (_, period) in ledger(run_cli, cfg)} == {"2026-11-19"}


def test_a_missed_weekly_update_is_caught_up_once_for_its_week(tmp_path, run_cli):
    cfg, key = workspace(tmp_path)
    text = cfg.read_text("utf-8").replace(
        'daily_update: {cron: "30 17 * * mon-fri", channels: [client-group, team]}',
        'weekly_update: {cron: "0 17 * * fri", channels: [team]}',
    )
    cfg.write_text(text, encoding="utf-8")
    # The week before's update went out on Friday the 13th.
    out = run_cli(
        "report", "weekly_update", "-c", str(cfg), "--project", key,
        "--as-of", "2026-11-13T17:00", "--json",
    )  # fmt: skip
    assert out.code == 0, out.stderr
    # Nothing ran on Friday the 20th; Saturday morning the week-47 update is made, once.
    (caught,) = pending(run_cli, cfg, "2026-11-21T10:00")
    assert (caught["channel"], caught["status"]) == ("team", "sent")
    assert {period for (_, period) in ledger(run_cli, cfg)} == {"2026-W46", "2026-W47"}
    assert outbox(tmp_path, key, "team") == [
        "weekly_update-2026-W46.md",
        "weekly_update-2026-W47.md",
    ]
    assert pending(run_cli, cfg, "2026-11-21T10:15") == []
    # Mid-week nothing is due: the week-48 update comes on its Friday.
    assert pending(run_cli, cfg, "2026-11-25T10:00") == []
