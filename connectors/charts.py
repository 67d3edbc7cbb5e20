"""Drawn burn-up charts kept on disk, so a chart is drawn once per snapshot, not once per
channel, language, audience, report kind or run.

Files are named by `chart_key`: a digest of exactly what the image shows (stage numbers, due
dates, each day's counts, the drawing's version). Every report of one snapshot asks for the same
key; a snapshot synced again with other figures asks for a new one, so a stale image is never
reused. The folder is `<outbox>/.charts/`: beside the reports, and hidden from the outbox's
listing (dot-folders are bookkeeping). A chart unused for `KEEP` is removed when another is
written; the ledger keeps the bytes of every report it may still send, so nothing depends on
the cache: a lost or read-only folder only costs drawing again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from stagecast.burnup import Burnup
from stagecast.reports.chart import Draw, chart_key, draw_png

log = logging.getLogger(__name__)

KEEP = timedelta(days=30)


def chart_folder(outbox: Path) -> Path:
    """Where the charts of an outbox are cached."""
    return outbox / ".charts"


class ChartCache:
    """A `Draw` that looks on disk first: `<folder>/<chart key>.png`. With `write=False` (a dry
    run, which must leave no trace) it only reads what is there."""

    def __init__(
        self, folder: Path, draw: Draw = draw_png, keep: timedelta = KEEP, write: bool = True
    ) -> None:
        self.folder = folder
        self._draw = draw
        self._keep = keep
        self._write = write

    def path(self, burnup: Burnup) -> Path:
        return self.folder / f"{chart_key(burnup)}.png"

    def __call__(self, burnup: Burnup) -> bytes:
        """The chart's PNG: read when cached, else drawn and kept."""
        path = self.path(burnup)
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        if data:
            if self._write:
                with contextlib.suppress(OSError):
                    os.utime(path)  # in use: not pruned
            return data
        data = self._draw(burnup)
        if not self._write:
            return data
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write(path, data)
            self._prune()
        except OSError as err:  # the report does not need the cache, only the bytes
            log.warning("burn-up chart not cached in %s: %s", self.folder, err.strerror or err)
        return data

    def _prune(self) -> None:
        """Remove the charts nobody asked for within `keep`."""
        oldest = time.time() - self._keep.total_seconds()
        for old in self.folder.glob("*.png"):
            try:
                if old.stat().st_mtime < oldest:
                    old.unlink()
            except FileNotFoundError:  # another worker pruned it first
                continue


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a reader never sees half a PNG (two writers write the same bytes)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
