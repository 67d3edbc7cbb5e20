"""The `file` channel: the local outbox, where the demo and a cautious first run deliver.

An email-shaped report is written as the HTML a mail client would show: its inline images (the
burn-up chart) are files beside it, and the HTML names them by relative file name instead of
`cid:`, so the page opens in a browser as it reads in the mail.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from connectors.channels.base import NO_PART_LOG, ChannelContext, DeliveryError, PartLog, Receipt
from stagecast.config import ChannelConfig
from stagecast.models import InlineImage, Message


class FileChannel:
    """Writes each report as `<kind>-<period>.md` (and `.html` when it has one, with its images
    as `<kind>-<period>.<image file name>`) in its folder."""

    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder

    def paths(self, message: Message) -> list[Path]:
        """Where a message lands: markdown always, HTML for email-shaped renderings, then the
        HTML's images."""
        stem = _stem(message)
        names = [f"{stem}.md"] + ([f"{stem}.html"] if message.html else [])
        names += [_image_name(stem, image) for image in _images(message)]
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
                for image in _images(message):  # before the page that shows them
                    _write_bytes(self.folder / _image_name(_stem(message), image), image.data)
                _write(html[0], _local_html(message))
        except OSError as err:
            raise DeliveryError(f"outbox {self.folder}: {err.strerror}", retryable=True) from None
        parts.delivered(1)
        return Receipt(self.name, str(markdown))


def build(cfg: ChannelConfig, ctx: ChannelContext) -> FileChannel:
    """The factory for `connectors.plugins.CHANNELS["file"]`: `<outbox>/<project>/<channel>/`."""
    return FileChannel(cfg.name, ctx.outbox / ctx.project / cfg.name)


def _stem(message: Message) -> str:
    return f"{message.kind}-{_safe(message.period)}"


def _images(message: Message) -> tuple[InlineImage, ...]:
    """The images the written HTML shows: none without HTML."""
    return message.images if message.html else ()


def _image_name(stem: str, image: InlineImage) -> str:
    return f"{stem}.{_safe(image.filename)}"


def _local_html(message: Message) -> str:
    """The HTML with each `cid:` image named by the file written beside it."""
    html = message.html or ""
    for image in _images(message):
        local = quote(_image_name(_stem(message), image))
        html = html.replace(f'src="cid:{image.cid}"', f'src="{local}"')
    return html


def _safe(period: str) -> str:
    """Periods like `requirements@2026-11-20` stay readable but never leave the folder."""
    return "".join(c if c.isalnum() or c in "-_@." else "_" for c in period)


def _write(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename over it."""
    _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)
