"""The burn-up chart: the PNG itself, its cache key, and how reports show (or skip) it."""

from __future__ import annotations

import struct
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from stagecast.burnup import Burnup
from stagecast.reports.chart import SCALE, WIDTH, Chart, chart_key, draw_png, layout
from stagecast.reports.context import daily_update_context, risk_alert_context
from stagecast.reports.render import render_report
from tests.stagecast.reports.scenario import Scenario, scenario, scenario_chart

ROOT = Path(__file__).resolve().parents[3]


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """The PNG's chunks as (type, data)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    found, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        found.append((png[at + 4 : at + 8], png[at + 8 : at + 8 + length]))
        at += 12 + length
    return found


class Counting:
    """The real drawing, counted: how often a report had the chart drawn."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, series: Burnup) -> bytes:
        self.calls += 1
        return draw_png(series)


def test_the_png_is_the_size_the_html_says_twice_over_and_the_same_bytes_each_time() -> None:
    series = scenario_chart(scenario("en")).burnup
    png = draw_png(series)
    assert png == draw_png(series)  # stable bytes: the cache key can name them
    kinds = [kind for kind, _ in chunks(png)]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
    assert not {b"tEXt", b"iTXt", b"zTXt", b"tIME"} & set(kinds)  # no date, no version
    width, height = struct.unpack(">II", chunks(png)[0][1][:8])
    assert (width, height) == (WIDTH * SCALE, layout(3)[2] * SCALE) == (1184, 300)
    assert 5_000 < len(png) < 100_000


def test_the_key_is_what_the_image_shows_and_nothing_else() -> None:
    series = scenario_chart(scenario("zh-CN")).burnup
    english = scenario_chart(scenario("en")).burnup
    assert chart_key(series) == chart_key(english)  # stage names are HTML text, not pixels
    first = series.stages[0]
    fewer = replace(series, stages=(replace(first, points=first.points[:1]), *series.stages[1:]))
    later = replace(series, stages=(replace(first, due=None), *series.stages[1:]))
    assert len({chart_key(series), chart_key(fewer), chart_key(later)}) == 3


def test_one_stage_keeps_its_number_and_has_its_own_image() -> None:
    chart = scenario_chart(scenario("en"))
    design = chart.only("design")
    assert design is not None and chart.only("no-such-stage") is None
    assert [s.number for s in design.stages] == [2]
    assert (design.filename, chart.filename) == ("burnup-2.png", "burnup.png")
    assert design.cid != chart.cid and design.cid.endswith("@stagecast")
    assert (design.width, design.height, chart.height) == (592, 200, 150)


def daily(s: Scenario, chart: Chart | None, language: str = "zh-CN"):
    context = daily_update_context(
        s.project, s.snapshot, s.since, audience="client", language=language, calendar=s.calendar
    )
    return render_report("daily_update", context, language=language, audience="client", chart=chart)


def test_the_html_shows_the_chart_and_the_message_carries_it_chat_and_text_do_not() -> None:
    s = scenario("zh-CN")
    drawn = Counting()
    chart = Chart(scenario_chart(s).burnup, drawn)
    message = daily(s, chart)
    (image,) = message.images
    assert (image.cid, image.filename, image.mime_type) == (chart.cid, "burnup.png", "image/png")
    assert message.html is not None and f'src="cid:{chart.cid}"' in message.html
    assert 'width="592" height="150"' in message.html
    for name in ("需求确认", "设计评审", "开发", "任务总数", "已完成任务", "计划完成日"):
        assert name in message.html
    assert "cid:" not in message.markdown + message.text and "进度趋势" not in message.text
    assert drawn.calls == 1


def test_no_chart_no_section_and_nothing_drawn_for_a_kind_that_does_not_show_it() -> None:
    s = scenario("en")
    plain = daily(s, None, "en")
    assert plain.images == () and plain.html is not None and "Progress over time" not in plain.html
    drawn = Counting()
    risk = next(f for f in s.snapshot.risks if f.code == "blocked")
    context = risk_alert_context(
        s.project, s.snapshot, risk, [], audience="internal", language="en", calendar=s.calendar
    )
    alert = render_report(
        "risk_alert",
        context,
        language="en",
        audience="internal",
        chart=Chart(scenario_chart(s).burnup, drawn),
    )
    assert alert.images == () and drawn.calls == 0


def test_neither_sync_nor_rendering_imports_matplotlib_until_a_chart_is_drawn() -> None:
    code = (
        "import sys, flows.sync, flows.reports, stagecast.reports.render, connectors.charts\n"
        "assert 'matplotlib' not in sys.modules, 'imported at start'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
