"""`stagecast sync --json` on the real board exports, against figures worked out by hand.

How the figures were worked out from the files (independently of the code): open cards in open
lists only; state by list name (クローズ/Done done, 作業中/In Progress in progress);
done_at from the last `updateCard` whose `listAfter` is the done list; dates in the project's
timezone. Comments beside each assertion give the arithmetic.
"""

from __future__ import annotations

from pathlib import Path


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "stagecast.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_gocd_2019_by_list(tmp_path, samples, run_cli):
    cfg = write_config(
        tmp_path,
        f"""
timezone: Asia/Shanghai
projects:
  - key: gocd
    name: GoCD Test Drive
    sources:
      - type: trello_export
        path: {samples / "trello-export-2019-gocd.json"}
        stage_field: list
""",
    )
    out = run_cli("sync", "-c", str(cfg), "--as-of", "2019-06-12T18:00", "--json")
    assert out.code == 0, out.stderr
    assert out.json["as_of"] == "2019-06-12T18:00:00+08:00"
    project = out.project("gocd")
    # 122 cards; 44 open cards in the 5 open lists (18 + 15 + 7 + 1 + 3).
    assert project["sources"] == [
        {
            "name": "trello_export",
            "type": "trello_export",
            "ok": True,
            "tasks": 44,
            "error": None,
            "last_ok": "2019-06-12T18:00:00+08:00",
        }
    ]
    assert project["progress"] == {"total": 44, "done": 3, "ratio": 3 / 44}
    stages = {s["name"]: s for s in project["stages"]}
    assert list(stages) == [
        "Backlog/Future Work/Ideas",
        "To Do",
        "In Progress",
        "Ready to merge",
        "Done",
    ]
    assert [stages[n]["total"] for n in stages] == [18, 15, 7, 1, 3]
    # Done: moves into Done on 06-04T18:31Z, 06-10T21:27Z, 06-10T21:31Z -> local 06-05, 06-11,
    # 06-11; W = the 10 working days 05-30 .. 06-12, all three inside: throughput 0.3.
    assert stages["Done"] == {
        "name": "Done",
        "key": "done",
        "due": None,
        "total": 3,
        "done": 3,
        "ratio": 1.0,
        "throughput": 0.3,
        "forecast": "2019-06-11",
        "status": "done",
    }
    assert stages["In Progress"]["forecast"] is None
    # Overdue: due 2019-04-26T19:00Z (s0KVPfTR, vPL1Y7sx) -> 04-27 local; ywa3z69V 04-25T19:00Z;
    # tT44ZZGY 06-04T19:00Z -> 06-05. Stale: ywa3z69V, in progress, last activity 05-22T19:46Z
    # -> 05-23 local, 20 days before 06-12 (> 7). HeiRIZ8x: 06-06 local, 6 days: not stale.
    risks = [(r["severity"], r["code"], r["subject"]) for r in project["risks"]]
    assert risks == [
        ("high", "overdue", "s0KVPfTR"),
        ("high", "overdue", "tT44ZZGY"),
        ("high", "overdue", "vPL1Y7sx"),
        ("high", "overdue", "ywa3z69V"),
        ("medium", "stale", "ywa3z69V"),
    ]
    overdue = project["risks"][1]
    assert overdue["detail"] == "due 2019-06-05, 7 days ago"
    assert overdue["stage"] == "In Progress"
    assert project["events"] == [] and project["deliveries"] == []


def test_gocd_stale_boundary_depends_on_the_project_timezone(tmp_path, samples, run_cli):
    # HeiRIZ8x last activity 2019-06-05T20:19Z. As of 06-13: in UTC that is 8 days (stale);
    # in Shanghai it is 06-06 04:19, 7 days (not stale).
    def stale(tz: str, as_of: str) -> list[str]:
        cfg = write_config(
            tmp_path,
            f"""
timezone: {tz}
state: sqlite:///{tz.replace("/", "-")}.db
projects:
  - key: gocd
    name: GoCD
    sources: [{{type: trello_export, path: "{samples / "trello-export-2019-gocd.json"}"}}]
""",
        )
        out = run_cli("sync", "-c", str(cfg), "--as-of", as_of, "--json")
        return [r["subject"] for r in out.project("gocd")["risks"] if r["code"] == "stale"]

    assert "HeiRIZ8x" in stale("UTC", "2019-06-13T10:00")
    assert "HeiRIZ8x" not in stale("Asia/Shanghai", "2019-06-13T18:00")


def test_clipkit_2015_labels_japanese_calendar(tmp_path, samples, run_cli):
    cfg = write_config(
        tmp_path,
        f"""
timezone: Asia/Tokyo
projects:
  - key: clipkit
    name: Clipkit
    language: en
    calendar: {{country: JP}}
    stages:
      - {{name: 機能, key: features, due: 2015-07-21}}
      - {{name: バグ, key: bugs, due: 2015-03-04}}
    sources:
      - type: trello_export
        path: {samples / "trello-export-2015-ja.json"}
""",
    )
    out = run_cli("sync", "-c", str(cfg), "--as-of", "2015-03-05T18:00", "--json")
    assert out.code == 0, out.stderr
    project = out.project("clipkit")
    # 67 cards, one archived (WRVSl4ql); the archived list 中止 holds none.
    # 66 tasks, 27 of them in クローズ.
    assert project["progress"]["total"] == 66 and project["progress"]["done"] == 27
    features, bugs = project["stages"]
    # 機能: 40 cards, 12 done. W (JP, 10 working days to Thu 03-05) starts Fri 02-20; done in
    # it: 02-25, 02-26, 03-03 -> 3. ceil(28 * 10 / 3) = 94 working days after 03-05: 07-15 on
    # plain weekdays, plus Showa Day 04-29, Golden Week 05-04..06 and Marine Day 07-20 -> 07-22.
    assert features == {
        "name": "機能",
        "key": "features",
        "due": "2015-07-21",
        "total": 40,
        "done": 12,
        "ratio": 0.3,
        "throughput": 0.3,
        "forecast": "2015-07-22",
        "status": "at_risk",
    }
    # バグ: 9 cards, 5 done, the last on 02-14: nothing in W, no forecast; due 03-04 passed.
    assert (bugs["total"], bugs["done"], bugs["forecast"], bugs["status"]) == (9, 5, None, "late")
    # Stale: 機能 cards in 作業中 last active 02-25 (8 days > 7): CWGXZaXd, POpcFjGN, mu88dV5g,
    # wL1yocPu. Natural order compares code points: upper case before lower case.
    risks = [(r["code"], r["subject"]) for r in project["risks"]]
    assert risks == [
        ("stage_late", "バグ"),
        ("stage_at_risk", "機能"),
        ("stale", "CWGXZaXd"),
        ("stale", "POpcFjGN"),
        ("stale", "mu88dV5g"),
        ("stale", "wL1yocPu"),
    ]
