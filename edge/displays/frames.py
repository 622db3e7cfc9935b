"""Frames onto a luma device, for both screen kinds (OLED and e-paper).

A frame goes out at once, or, with `background`, from one writer thread that always takes the
newest frame waiting (a slow bus or a panel that takes seconds to refresh never holds up the
event loop; frames drawn in between are skipped, not queued). The first error turns the screen
off for good and is kept in `error`: coaching goes on without it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from PIL import Image

log = logging.getLogger(__name__)


class FrameWriter:
    def __init__(self, device: Any, *, background: bool, name: str, what: str = "display",
                 prepare: Callable[[Image.Image], Image.Image] = lambda image: image) -> None:
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
