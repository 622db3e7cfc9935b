"""Frames onto a luma device, for both screen kinds (OLED and e-paper).

A frame goes out at once, or, with `background`, from one writer thread that always takes the
newest frame waiting (a slow bus or a panel that takes seconds to refresh never holds up the
event loop; frames drawn in between are skipped, not queued). The first error turns the screen
off for good and is kept in `error`: coaching goes on without it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from PIL import Image, ImageFont

from edge.core.events import SessionEvent
from edge.displays import DisplayError

log = logging.getLogger(__name__)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def load_font(size: int, path: Path | None) -> Font:
    """`path` (a TrueType file) at `size`, or Pillow's own font; a bad file is a DisplayError."""
    if path is not None:
        try:
            return ImageFont.truetype(str(path), size)
        except OSError as exc:
            raise DisplayError(f"cannot load the display font {path}: {exc}") from exc
    try:
        return ImageFont.load_default(size=size)
    except ImportError:  # a Pillow built without FreeType: one small bitmap font
        return ImageFont.load_default()


def clock_text(seconds: object) -> str:
    """Seconds as "mm:ss", or "h:mm:ss" from an hour."""
    minutes, rest = divmod(max(0, int(seconds)), 60)  # type: ignore[call-overload]
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes:02d}:{rest:02d}"


class FrameWriter:
    def __init__(
        self,
        device: Any,
        *,
        background: bool,
        name: str,
        what: str = "display",
        prepare: Callable[[Image.Image], Image.Image] = lambda image: image,
    ) -> None:
        self.device = device
        self.what = what
        self.prepare = prepare
        #: The error that turned the screen off, if one did.
        self.error: Exception | None = None
        self._pending: Image.Image | None = None
        self._wake = threading.Condition()
        self._closing = False
        self._writer: threading.Thread | None = None
        if background:
            self._writer = threading.Thread(target=self._loop, name=name, daemon=True)
            self._writer.start()

    def show(self, image: Image.Image) -> None:
        if self._writer is None:
            self._write(image)
            return
        with self._wake:
            self._pending = image
            self._wake.notify()

    def close(self, *, timeout_s: float) -> None:
        """Stop the writer thread once the frame it is writing is out."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._writer is not None:
            self._writer.join(timeout=timeout_s)

    def cleanup(self) -> None:
        """Switch the screen off (luma's cleanup), unless it already failed."""
        if self.error is not None:
            return
        try:
            self.device.cleanup()
        except Exception as exc:  # a screen going away at the end is no news
            log.debug("%s cleanup failed: %s", self.what, exc)

    def _loop(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._closing:
                    self._wake.wait()
                image, self._pending = self._pending, None
                if image is None:
                    return
            self._write(image)

    def _write(self, image: Image.Image) -> None:
        if self.error is not None:
            return
        try:
            self.device.display(self.prepare(image))
        except Exception as exc:  # bus errors are OSError; a driver may raise its own
            self.error = exc
            log.warning("%s stopped: %s: %s", self.what, type(exc).__name__, exc)


class LumaScreen:
    """What both screens share: they take session events (`__call__`), draw on their own
    schedule (`tick`, driven by `run` as a daemon task), and put frames out through one
    `FrameWriter`. A screen shows one person's events when `person` is set."""

    #: Seconds between ticks of `run`, and how long `close` waits for the last frame.
    tick_s: float = 0.1
    close_timeout_s: float = 5.0
    person: str | None = None
    _frames: FrameWriter

    @property
    def device(self) -> Any:
        """The luma device frames go to (replaceable, e.g. by a preview that saves each one)."""
        return self._frames.device

    @device.setter
    def device(self, device: Any) -> None:
        self._frames.device = device

    @property
    def error(self) -> Exception | None:
        """The error that turned the screen off, if one did."""
        return self._frames.error

    def __call__(self, event: Mapping[str, Any]) -> None:
        self.emit(event)

    def emit(self, event: Mapping[str, Any]) -> None:
        raise NotImplementedError

    def tick(self, now: float | None = None) -> bool:
        raise NotImplementedError

    def _mine(self, event: SessionEvent) -> bool:
        return self.person is None or event.person in (None, self.person)

    async def run(self, period_s: float | None = None) -> None:
        """Tick until cancelled (a daemon task)."""
        while True:
            self.tick()
            await asyncio.sleep(self.tick_s if period_s is None else period_s)

    def _close(self, clear: bool) -> None:
        self._frames.close(timeout_s=self.close_timeout_s)
        if clear:
            self._frames.cleanup()
