"""The daily update by email, end to end: the flow renders it and a real SMTP server gets it."""

from __future__ import annotations

import re
import shutil
import uuid

from tests.connectors.smtp_server import related_html, serve
from tests.trello_boards import card, write_board

CONFIG = """
timezone: Asia/Shanghai
projects:
  - key: {key}
    name: ACME 客户门户
    sources:
      - {{type: trello_export, path: board.json}}
    channels:
      - name: client-mail
        type: email
        to: [pm@acme.example]
        cc: [lead@ourfirm.example]
        from: delivery@ourfirm.example
        smtp: {{host: 127.0.0.1, port: {port}, starttls: false, timeout_seconds: 5}}
        audience: client
    reports:
      daily_update: {{channels: [client-mail]}}
"""


def test_daily_update_arrives_as_multipart_mail_once(tmp_path, run_cli):
    key = f"mail-{uuid.uuid4().hex[:8]}"
    write_board(
        tmp_path / "board.json",
        [
            card("B1", "doing", labels=("开发",), last_activity="2026-11-20T02:00:00Z"),
            card("B2", labels=("开发",), due="2026-11-19T10:00:00Z"),
        ],
    )
    with serve() as server:
        cfg = tmp_path / "stagecast.yaml"
        cfg.write_text(CONFIG.format(key=key, port=server.port), encoding="utf-8")
        args = (
            "report",
            "daily_update",
            "-c",
            str(cfg),
            "--project",
            key,
            "--as-of",
            "2026-11-20T17:30",
            "--json",
        )
        first = run_cli(*args)
        again = run_cli(*args)
        assert first.code == 0, first.stderr
        assert [d["status"] for d in first.project(key)["deliveries"]] == ["sent"]
        assert [d["status"] for d in again.project(key)["deliveries"]] == ["duplicate"]
        (received,) = server.mailbox.received
    mail = received.parsed()
    assert "ACME 客户门户" in mail["Subject"]
    assert sorted(received.rcpt_tos) == ["lead@ourfirm.example", "pm@acme.example"]
    text, related = mail.iter_parts()
    assert text.get_content_type() == "text/plain" and "B2" in text.get_content()
    assert related.get_content_type() == "multipart/related"
    html, images = related_html(mail)
    assert "<table" in html and 'src="cid:' in html
    assert set(re.findall(r'src="cid:([^"]+)"', html)) == set(images)


def test_a_deferred_mail_still_carries_its_chart_when_sent_later(tmp_path, run_cli):
    """The ledger keeps the rendered mail, images too: Monday's send needs no cache or redraw."""
    key = f"mail-{uuid.uuid4().hex[:8]}"
    write_board(tmp_path / "board.json", [card("B1", "doing", labels=("开发",))])
    with serve() as server:
        cfg = tmp_path / "stagecast.yaml"
        cfg.write_text(CONFIG.format(key=key, port=server.port), encoding="utf-8")
        friday = run_cli(
            "report",
            "daily_update",
            "-c",
            str(cfg),
            "--project",
            key,
            "--as-of",
            "2026-11-20T19:30",
        )
        assert friday.code == 0 and "deferred" in friday.stdout, friday.stderr
        charts = tmp_path / ".stagecast" / "outbox" / ".charts"
        drawn = [p.read_bytes() for p in charts.iterdir()]
        shutil.rmtree(charts)
        monday = run_cli("deliver-pending", "-c", str(cfg), "--as-of", "2026-11-23T09:05", "--json")
        assert [d["status"] for d in monday.json["deliveries"]] == ["sent"], monday.stderr
        (received,) = server.mailbox.received
    html, images = related_html(received.parsed())
    (cid,) = re.findall(r'src="cid:([^"]+)"', html)
    assert [images[cid].get_content()] == drawn
    assert not charts.exists()  # sent from the ledger, not drawn again
