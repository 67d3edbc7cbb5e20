"""The `file` channel: the outbox layout, atomic writes, and a clear failure."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from connectors.channels.base import ChannelContext, DeliveryError, build_channel
from connectors.channels.file import FileChannel
from connectors.plugins import CHANNELS
from stagecast.config import FileChannelConfig, SlackChannelConfig
from stagecast.models import InlineImage, Message
from tests.builders import daily_message


def message(**overrides: Any) -> Message:
    fields = dict(language="zh-CN", title="ACME 日报", text="进展", **overrides)
    return daily_message("## 进展\n一切顺利", **fields)


def test_writes_markdown_into_outbox_project_channel(tmp_path):
    channel = build_channel(
        FileChannelConfig(name="archive", type="file"), ChannelContext("acme", tmp_path)
    )
    receipt = channel.send(message())
    path = tmp_path / "acme" / "archive" / "daily_update-2026-11-20.md"
    assert receipt.target == str(path) and receipt.channel == "archive"
    assert path.read_text(encoding="utf-8") == "## 进展\n一切顺利"
    assert sorted(p.name for p in path.parent.iterdir()) == ["daily_update-2026-11-20.md"]


def test_email_shaped_reports_also_get_their_html(tmp_path):
    FileChannel("team", tmp_path).send(message(html="<p>进展</p>"))
    assert (tmp_path / "daily_update-2026-11-20.html").read_text(encoding="utf-8") == "<p>进展</p>"


def test_period_cannot_escape_the_folder(tmp_path):
    channel = FileChannel("team", tmp_path / "out")
    receipt = channel.send(message(kind="stage_report", period="../../etc/requirements@2026"))
    assert (tmp_path / "out") in Path(receipt.target).parents


def test_unwritable_outbox_is_a_retryable_delivery_error(tmp_path):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    with pytest.raises(DeliveryError) as err:
        FileChannel("team", blocker / "sub").send(message())
    assert err.value.retryable


def test_a_channel_type_without_a_sender_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.delitem(CHANNELS, "slack")
    cfg = SlackChannelConfig(name="team", type="slack", webhook="env:HOOK")
    with pytest.raises(DeliveryError) as err:
        build_channel(cfg, ChannelContext("acme", tmp_path))
    assert "slack" in str(err.value) and not err.value.retryable


def test_delivery_errors_survive_pickling():
    err = pickle.loads(pickle.dumps(DeliveryError("HTTP 503", retryable=True)))
    assert (str(err), err.retryable) == ("HTTP 503", True)


def test_the_html_shows_its_chart_from_a_file_beside_it(tmp_path):
    png = b"\x89PNG\r\n\x1a\n-the-chart-"
    chart = InlineImage("burnup.0123abcd@stagecast", "burnup.png", png)
    html = '<h2>进度趋势</h2><img src="cid:burnup.0123abcd@stagecast" width="592">'
    receipt = FileChannel("team", tmp_path).send(message(html=html, images=(chart,)))
    assert receipt.target == str(tmp_path / "daily_update-2026-11-20.md")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "daily_update-2026-11-20.burnup.png",
        "daily_update-2026-11-20.html",
        "daily_update-2026-11-20.md",
    ]
    assert (tmp_path / "daily_update-2026-11-20.burnup.png").read_bytes() == png
    written = (tmp_path / "daily_update-2026-11-20.html").read_text(encoding="utf-8")
    assert written == '<h2>进度趋势</h2><img src="daily_update-2026-11-20.burnup.png" width="592">'


def test_a_chat_rendering_writes_no_image(tmp_path):
    chart = InlineImage("burnup.0123abcd@stagecast", "burnup.png", b"\x89PNG")
    FileChannel("team", tmp_path).send(message(images=(chart,)))  # no HTML to show it
    assert [p.name for p in tmp_path.iterdir()] == ["daily_update-2026-11-20.md"]
