"""The daily update by email, end to end: the flow renders it and a real SMTP server gets it."""

from __future__ import annotations

import uuid

from tests.connectors.smtp_server import serve
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
    text, html = mail.iter_parts()
    assert text.get_content_type() == "text/plain" and "B2" in text.get_content()
    assert html.get_content_type() == "text/html" and "<table" in html.get_content()
