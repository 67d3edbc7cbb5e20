"""The `file` channel: the local outbox, where the demo and a cautious first run deliver."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from connectors.channels.base import NO_PART_LOG, ChannelContext, DeliveryError, PartLog, Receipt
from stagecast.config import ChannelConfig
from stagecast.models import Message


class FileChannel:
    """Writes each report as `<kind>-<period>.md` (and `.html` when it has one) in its folder."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder

    def paths(self, message: Message) -> list[Path]:
        """Where a message lands: markdown always, HTML for email-shaped renderings."""
        stem = f"{message.kind}-{_safe(message.period)}"
        names = [f"{stem}.md"] + ([f"{stem}.html"] if message.html else [])
        return [self.folder / name for name in names]

    def send(self, message: Message, parts: PartLog = NO_PART_LOG) -> Receipt:
        """Write atomically, so a crash never leaves half a report in the outbox. Writing the
        same file again is harmless, so nothing is ever "maybe delivered" here."""
        if parts.first > 1:
            return Receipt(self.name, str(self.paths(message)[0]))
        markdown, *html = self.paths(message)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write(markdown, message.markdown)
            if html and message.html:
                _write(html[0], message.html)
        except OSError as err:
            raise DeliveryError(f"outbox {self.folder}: {err.strerror}", retryable=True) from None
        parts.delivered(1)
        return Receipt(self.name, str(markdown))


def build(cfg: ChannelConfig, ctx: ChannelContext) -> FileChannel:
    """The factory for `connectors.plugins.CHANNELS["file"]`: `<outbox>/<project>/<channel>/`."""
    return FileChannel(cfg.name, ctx.outbox / ctx.project / cfg.name)


def _safe(period: str) -> str:
    """Periods like `requirements@2026-11-20` stay readable but never leave the folder."""
    return "".join(c if c.isalnum() or c in "-_@." else "_" for c in period)


def _write(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)
