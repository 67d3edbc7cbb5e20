"""The HTML emails as a reader sees them: the demo's reports, written by the real `file` channel
(the HTML names its chart by file instead of `cid:`), opened in headless Chromium.

Each page: the burn-up chart loaded at twice its displayed size, every progress bar filled to
the width its percent says, nothing in red on the console, and the Chinese set in a CJK font
(`fonts-noto-cjk`). Screenshots land in `build/screenshots/<kind>.<audience>.<language>.png`
for a person to look at.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from flows.demo import PROJECT, DemoRun, run_demo
from stagecast.config import load_config
from tests.browser import look_at, needs_chromium

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"

# The HTML emails looked at, one line each: the report kind and the file of it the demo writes
# (the stage report of the late 设计评审, the wrap-up a month on).
PAGES = {
    "daily_update": "daily_update-2026-11-20.html",
    "stage_report": "stage_report-design-review.html",
    "weekly_update": "weekly_update-2026-W47.html",
    "project_report": "project_report-project.html",
}
# The demo's channels: who reads them, in which language.
READERS = {
    "client-group": ("client", "zh-CN"),
    "team": ("internal", "en"),
    "archive": ("internal", "zh-CN"),
}

# Reads what the page shows: the chart image, each bar and the percent printed beside it.
LOOK = r"""
(async () => {
  await document.fonts.ready;
  const img = document.querySelector('img');
  const track = '#e5e7eb';
  const rows = new Set([...document.querySelectorAll('td[height][bgcolor]')]
    .map(td => td.parentElement));
  const bars = [...rows].map(tr => {
    const cells = [...tr.children];
    const fill = cells.find(td => td.getAttribute('bgcolor') !== track);
    const holder = tr.closest('table').parentElement;
    return {
      declared: fill ? parseFloat(fill.getAttribute('width')) : 0,
      measured: fill ? 100 * fill.getBoundingClientRect().width
                       / tr.getBoundingClientRect().width : 0,
      label: holder.innerText,
    };
  });
  return {
    image: img && {src: img.getAttribute('src'), complete: img.complete,
                   natural: img.naturalWidth, naturalHeight: img.naturalHeight,
                   attrWidth: parseInt(img.getAttribute('width')),
                   shown: img.getBoundingClientRect().width},
    bars: bars,
    text: document.body.innerText,
    cjk: document.fonts.check('14px "Noto Sans CJK SC"'),
  };
})()
"""


@pytest.fixture(scope="module")
def demo(prefect_server, tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The demo, rendered once for every test here: it sends every kind."""
    return run_demo(tmp_path_factory.mktemp("browser") / "demo")


def page(demo: DemoRun, kind: str, channel: str) -> Path:
    outbox = load_config(demo.workdir / "stagecast.yaml").outbox / PROJECT / channel
    return outbox / PAGES[kind]


@needs_chromium
@pytest.mark.parametrize("channel", READERS)
@pytest.mark.parametrize("kind", PAGES)
def test_the_email_reads_right_in_a_browser(
    demo: DemoRun, kind: str, channel: str, tmp_path: Path
) -> None:
    audience, language = READERS[channel]
    html = page(demo, kind, channel)
    shot = SCREENSHOTS / f"{kind}.{audience}.{language}.png"
    seen = look_at(html.as_uri(), LOOK, shot, tmp_path)
    print(f"screenshot: {shot}")
    assert seen.errors == []
    image = seen.value["image"]
    assert image is not None, "no burn-up chart"
    assert image["src"].endswith(".png") and (html.parent / unquote(image["src"])).is_file()
    assert image["complete"] and image["natural"] > 0
    assert image["natural"] == 2 * image["attrWidth"] and image["shown"] <= image["attrWidth"]
    assert seen.value["bars"], "no progress bars"
    for bar in seen.value["bars"]:
        assert abs(bar["measured"] - bar["declared"]) <= 1.0, bar
        printed = re.match(r"\s*(\d+)\s*%", bar["label"])
        if printed:
            assert int(printed.group(1)) == bar["declared"], bar
    if language == "zh-CN":
        assert seen.value["cjk"], "no CJK font: install fonts-noto-cjk (make browser)"
        assert "进度趋势" in seen.value["text"]
    else:
        assert "Progress over time" in seen.value["text"]
    assert shot.stat().st_size > 20_000  # a drawn page, not a blank one
