"""The burn-up chart of an HTML email: a PNG of each stage's scope and done over time (SPEC §8).

Small multiples, one panel per stage, named only by the stage's number in the report's stage
table; the scope and done lines, the due date as a dashed vertical line. Each panel spans its
own stage's dates (stages follow one another, so a shared axis would leave most of each panel
empty); every panel carries its own date ticks. The image holds numbers
and dates (`11-20`) only: titles, the legend and the stage names are HTML text around it, in
the report's language, so no CJK font has to ship and the same bytes serve every language.

matplotlib is imported when a chart is first drawn, never at import, so `sync` and the chat
reports do not pay for it; drawing uses a `Figure` on the Agg canvas (no pyplot, no display).
The bytes are deterministic (no timestamp or version in the PNG), so a chart is cached by
`chart_key`: what it draws.

`Chart` is what templates see as `chart`: the series, where the image is (`src`, `cid:…`),
its size, and `only(stage key)` for a report about one stage. `render_report` attaches the
images its HTML references (`chart_images`), drawing each once.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from stagecast.burnup import Burnup, StageBurnup
from stagecast.models import InlineImage

__all__ = ["CHART_VERSION", "Chart", "chart_images", "chart_key", "draw_png", "layout"]

# Bump when the drawing changes, so cached images of the old drawing are not reused.
CHART_VERSION = 1

# Display pixels: the email's content column is 640 - 2 x 24 px wide.
WIDTH = 592
ROW_HEIGHT = 150
SINGLE_HEIGHT = 200
COLUMNS = 3
# Drawn at twice the displayed size, so it stays sharp on high-density screens.
SCALE = 2

SCOPE_COLOUR = "#1565c0"
DONE_COLOUR = "#2e7d32"
DUE_COLOUR = "#c62828"
GRID_COLOUR = "#e5e7eb"
TEXT_COLOUR = "#6b7280"
# What the legend beside the image says each line is drawn in.
COLOURS: Mapping[str, str] = {"scope": SCOPE_COLOUR, "done": DONE_COLOUR, "due": DUE_COLOUR}

Draw = Callable[[Burnup], bytes]

_drawing = threading.Lock()  # matplotlib's font cache and text layout are not thread-safe


def layout(panels: int) -> tuple[int, int, int]:
    """(columns, rows, height in display pixels) for a number of panels."""
    columns = max(1, min(panels, COLUMNS))
    rows = max(1, math.ceil(panels / columns))
    return columns, rows, SINGLE_HEIGHT if panels == 1 else rows * ROW_HEIGHT


def chart_key(burnup: Burnup) -> str:
    """A digest of exactly what the image shows: stage numbers, due dates, points, drawing."""
    drawn = {
        "version": CHART_VERSION,
        "size": [WIDTH, layout(len(burnup.stages))[2], SCALE],
        "stages": [
            {
                "number": s.number,
                "due": s.due.isoformat() if s.due else None,
                "points": [[p.day.isoformat(), p.scope, p.done] for p in s.points],
            }
            for s in burnup.stages
        ],
    }
    text = json.dumps(drawn, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def draw_png(burnup: Burnup) -> bytes:
    """The chart as PNG bytes, the same bytes for the same series."""
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns, rows, height = layout(len(burnup.stages))
    with _drawing, rc_context(_RC):
        figure = Figure(figsize=(WIDTH / 72, height / 72), dpi=72 * SCALE)
        FigureCanvasAgg(figure)
        axes = figure.subplots(rows, columns, squeeze=False)
        for index, ax in enumerate(axes.flat):
            if index < len(burnup.stages):
                stage = burnup.stages[index]
                _panel(ax, stage, _padded(stage.span))
            else:
                ax.set_visible(False)
        figure.tight_layout(pad=0.4, h_pad=0.6, w_pad=0.8)
        out = io.BytesIO()
        figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


# Fixed here so a machine's matplotlibrc cannot change the bytes; sizes are display pixels.
# (Any: matplotlib types the keys as a Literal of every setting.)
_RC: Any = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.edgecolor": GRID_COLOUR,
    "axes.linewidth": 1,
    "axes.labelcolor": TEXT_COLOUR,
    "xtick.color": TEXT_COLOUR,
    "ytick.color": TEXT_COLOUR,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "xtick.major.size": 0,
    "ytick.major.size": 0,
    "axes.grid": True,
    "grid.color": GRID_COLOUR,
    "grid.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
    "path.simplify": False,
    "svg.hashsalt": "stagecast",
}


def _padded(span: tuple[date, date] | None) -> tuple[datetime, datetime]:
    """The dates drawn with half a day to spare on each side: a single day still has a width,
    and no date falls on the frame, where its tick label would be cut."""
    first, last = span if span is not None else (date(2000, 1, 1), date(2000, 1, 1))
    half = timedelta(hours=12)
    return _midnight(first) - half, _midnight(last) + half


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _panel(ax: Any, stage: StageBurnup, span: tuple[datetime, datetime]) -> None:
    """One stage: scope and done lines, the due date dashed, its number as the title."""
    from matplotlib.dates import AutoDateLocator, DateFormatter
    from matplotlib.ticker import MaxNLocator

    days = [p.day for p in stage.points]
    scope = [p.scope for p in stage.points]
    done = [p.done for p in stage.points]
    ax.fill_between(days, done, color=DONE_COLOUR, alpha=0.12, linewidth=0)
    ax.plot(days, scope, color=SCOPE_COLOUR, linewidth=2, marker="o", markersize=3.5)
    ax.plot(days, done, color=DONE_COLOUR, linewidth=2, marker="o", markersize=3.5)
    if stage.due is not None:
        ax.axvline(stage.due, color=DUE_COLOUR, linewidth=1.5, linestyle=(0, (4, 3)))
    top = max([*scope, 1])
    ax.set_ylim(0, top * 1.15)
    ax.set_xlim(*span)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    ax.xaxis.set_major_locator(AutoDateLocator(minticks=2, maxticks=4))  # type: ignore[no-untyped-call]
    same_year = span[0].year == span[1].year
    dates = DateFormatter("%m-%d" if same_year else "%y-%m-%d")  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(dates)
    ax.set_title(str(stage.number), loc="left", fontsize=12, fontweight="bold", color="#1f2933")


@dataclass(frozen=True)
class Chart:
    """A burn-up chart offered to a report's templates; drawn only if the HTML shows it.

    `draw` makes the PNG (the flows pass one that caches on disk); the image's Content-ID comes
    from what it shows, so the HTML is the same whether or not it was drawn yet.
    """

    burnup: Burnup
    draw: Draw = field(default=draw_png, compare=False, repr=False)
    whole: bool = True  # every stage of the project, not `only` one

    @property
    def stages(self) -> tuple[StageBurnup, ...]:
        """The stages shown, each with its `number`, `name`, `due` and `points`."""
        return self.burnup.stages

    @property
    def key(self) -> str:
        return chart_key(self.burnup)

    @property
    def cid(self) -> str:
        """The Content-ID of the image part (RFC 2392), unique to what it shows."""
        return f"burnup.{self.key[:24]}@stagecast"

    @property
    def src(self) -> str:
        """What `<img src>` says in an email; the `file` channel rewrites it to a file name."""
        return f"cid:{self.cid}"

    @property
    def filename(self) -> str:
        """The image's file name: the whole project's, or one stage's by its number."""
        return "burnup.png" if self.whole else f"burnup-{self.stages[0].number}.png"

    @property
    def colours(self) -> Mapping[str, str]:
        """The lines' colours (`scope`, `done`, `due`), for the legend beside the image."""
        return COLOURS

    @property
    def width(self) -> int:
        return WIDTH

    @property
    def height(self) -> int:
        return layout(len(self.stages))[2]

    def only(self, key: str) -> Chart | None:
        """The chart of one stage (by key), for a report about that stage; None if unknown."""
        chosen = self.burnup.only(key)
        return Chart(chosen, self.draw, whole=False) if chosen is not None else None

    def variants(self) -> Iterator[Chart]:
        """This chart and each of its stages' own: every image a template can show."""
        yield self
        if len(self.stages) > 1:
            for stage in self.stages:
                single = self.only(stage.key)
                if single is not None:
                    yield single

    def image(self) -> InlineImage:
        """The PNG as an inline image of the message."""
        return InlineImage(self.cid, self.filename, self.draw(self.burnup))


def chart_images(chart: Chart | None, html: str | None) -> tuple[InlineImage, ...]:
    """The images `html` shows, each drawn once; none without a chart or HTML."""
    if chart is None or html is None:
        return ()
    return tuple(c.image() for c in chart.variants() if c.src in html)
