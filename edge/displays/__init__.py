"""Small screens beside the terminal display: what a person glances at while moving.

Each display is an event sink like `edge.displays.terminal.TerminalDisplay`: a synchronous callable that
takes the session's typed events (`edge.core.events`). `edge.displays.oled` drives 128x64
I2C OLEDs through luma.oled (``pip install luma.oled``); `edge.displays.epaper` lays out an
e-paper panel that redraws only when the zone or the cue changes. `[display]` in the config
chooses one for the daemon (`edge.settings.DisplaySettings`, `open_display`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.errors import EdgecoachError
from edge.settings import DISPLAY_KINDS, DisplaySettings

if TYPE_CHECKING:
    from edge.core.zones import ZoneModel

log = logging.getLogger(__name__)


class DisplayError(EdgecoachError):
    """A screen that cannot be opened or written: not wired, I2C off, wrong address, no luma."""


class _Preview:
    """A luma dummy device that also writes each frame to a PNG file (atomically)."""

    def __init__(self, device: Any, path: Path) -> None:
        self.device, self.path = device, path
        self.width, self.height, self.mode = device.width, device.height, device.mode

    def display(self, image: Any) -> None:
        self.device.display(image)
        partial = self.path.with_name(self.path.name + ".part")
        self.device.image.save(partial, format="PNG")
        os.replace(partial, self.path)

    def cleanup(self) -> None:
        self.device.cleanup()

    @property
    def image(self) -> Any:
        return self.device.image


def open_display(
    settings: DisplaySettings, person: str, zones: ZoneModel | None = None
) -> Any | None:
    """The display `settings` ask for, showing `person`'s events; None for kind "none".

    Raises DisplayError saying what to check when it cannot be opened.
    """
    if settings.kind == "none":
        return None
    common: dict[str, Any] = {
        "width": settings.width or (128 if settings.kind == "oled" else 0),
        "height": settings.height or (64 if settings.kind == "oled" else 0),
        "rotate": settings.rotate,
        "person": person,
    }
    if settings.kind == "oled":
        from edge.displays.oled import from_config as oled

        display = oled(
            settings.driver or "ssd1306",
            i2c_port=settings.i2c_port,
            address=settings.address,
            **common,
        )
    elif settings.kind == "epaper":
        from edge.displays.epaper import from_config as epaper

        display = epaper(
            settings.driver or "dummy",
            panel=settings.panel,
            zones=zones,
            min_refresh_s=settings.min_refresh_s,
            **common,
        )
    else:
        raise DisplayError(
            f"unknown display kind {settings.kind!r}: choose one of {', '.join(DISPLAY_KINDS)}"
        )
    if settings.preview_file is not None:
        if not hasattr(display.device, "image"):
            raise DisplayError("preview_file needs the dummy driver (an in-memory screen)")
        display.device = _Preview(display.device, settings.preview_file)
    log.info("%s display (%s) for %s", settings.kind, settings.driver or "default", person)
    return display
