"""The daily update into chat groups, end to end: rendered by the flow, posted to local bots."""

from __future__ import annotations

import sqlite3
import uuid

from tests.connectors.fake_webhooks import FakeWebhooks
from tests.trello_boards import card, write_board

CONFIG = """
timezone: Asia/Shanghai
projects:
  - key: {key}
    name: ACME 客户门户
    sources:
      - {{type: trello_export, path: board.json}}
    channels:
      - {{name: client-group, type: wecom, webhook: "env:{prefix}_WECOM", audience: client,
          mention: [zhangsan]}}
      - {{name: leads, type: dingtalk, webhook: "env:{prefix}_DING", secret: "env:{prefix}_SIGN",
          keyword: 项目进展, audience: internal}}
    reports:
      daily_update: {{channels: [client-group, leads]}}
"""


def test_daily_update_posts_to_wecom_and_signed_dingtalk(tmp_path, run_cli, monkeypatch):
    key = f"chat-{uuid.uuid4().hex[:8]}"
    prefix = key.upper().replace("-", "_")
    write_board(
        tmp_path / "board.json",
        [
            card("B1", "doing", labels=("开发",), last_activity="2026-11-20T02:00:00Z"),
            card("B2", labels=("开发",), due="2026-11-19T10:00:00Z"),
        ],
    )
    with FakeWebhooks() as hooks:
        wecom = hooks.bot("wecom")
        ding = hooks.bot("dingtalk", secret="SEC-signing-secret", keyword="项目进展")
        monkeypatch.setenv(f"{prefix}_WECOM", wecom.url)
        monkeypatch.setenv(f"{prefix}_DING", ding.url)
        monkeypatch.setenv(f"{prefix}_SIGN", ding.secret or "")
        cfg = tmp_path / "stagecast.yaml"
        cfg.write_text(CONFIG.format(key=key, prefix=prefix), encoding="utf-8")
        out = run_cli(
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
    assert out.code == 0, out.stderr
    assert [d["status"] for d in out.project(key)["deliveries"]] == ["sent", "sent"]
    assert wecom.delivered and all(
        b["msgtype"] == "markdown" for b in (r.body for r in wecom.delivered)
    )
    assert "B2" in wecom.texts()[0] and "zhangsan" not in wecom.texts()[0]  # no @ on updates
    assert ding.delivered and all("项目进展" in t for t in ding.texts())
    with sqlite3.connect(tmp_path / ".stagecast" / "state.db") as db:
        ledger = " ".join(str(v) for row in db.execute("select * from deliveries") for v in row)
    for secret in (wecom.token, ding.token, "SEC-signing-secret"):
        assert secret not in ledger and secret not in out.stdout and secret not in out.stderr
