"""A small OLED (SSD1306, SH1106; 128x64 or 128x32, on I2C) showing the heart rate at a glance.

    +----------------------------+
    |  152          | Z4 |       |   heart rate, big; the zone, inverted from zone 4 up
    |               12:34        |   session time, or the step ("Int 1:23": 1:23 left)
    |Zone 4 now, heart rate 15...|   the latest cue, scrolling when it is too long
    +----------------------------+

`OledDisplay(device)` takes any luma device (`luma.core.device.dummy` in tests) and is a session
event sink: `display(event)` or `display.emit(event)`. It renders at most `max_fps` times a
second however fast events come; `tick()` (or the `run()` task) keeps a long cue scrolling and
shows what a skipped render left behind. With `background=True` the pixels go to the screen from
a worker thread, since an I2C frame at the Pi's default 100 kHz takes about a tenth of a second
and must not hold up the event loop. A screen that fails to write is logged once and left dark:
the session goes on without it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from edge.core.events import (
    CueDecided,
    CueSpoken,
    SampleTaken,
    SessionEnded,
    SessionEvent,
    StepProgress,
)
from edge.displays import DisplayError
from edge.displays.frames import Font, FrameWriter, LumaScreen, clock_text, load_font

log = logging.getLogger(__name__)

__all__ = ["KINDS", "OledDisplay", "from_config"]

#: Screens `from_config` knows; "dummy" keeps the image in memory (tests, no hardware).
KINDS = ("ssd1306", "sh1106", "dummy")


def _place(
    draw: ImageDraw.ImageDraw,
    x: float,
    y: float,
    text: str,
    font: Font,
    fill: str,
    *,
    centre: bool = False,
) -> None:
    """Draw `text` with its ink's left edge (or centre) at x and its middle at y."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x -= (left + right) / 2 if centre else left
    draw.text((round(x), round(y - (top + bottom) / 2)), text, font=font, fill=fill)


#: The step kind before its time left ("Int 1:23": an interval, 1:23 to go), where it fits.
_STEP_LABELS = {"warmup": "Wu", "work": "Int", "recover": "Rec", "cooldown": "Cd"}


class OledDisplay(LumaScreen):
    """Heart rate, zone and the latest cue on a luma device."""

    tick_s = 0.1
    close_timeout_s = 5.0

    def __init__(
        self,
        device: Any,
        *,
        max_fps: float = 4.0,
        scroll_px_per_s: float = 30.0,
        scroll_pause_s: float = 1.5,
        cue_shown_s: float = 60.0,
        person: str | None = None,
        font_path: Path | None = None,
        background: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.width, self.height = device.width, device.height
        self.min_interval_s = 1.0 / max_fps
        self.scroll_px_per_s = scroll_px_per_s
        self.scroll_pause_s = scroll_pause_s
        self.cue_shown_s = cue_shown_s
        #: Only this person's events (a daemon coaching several); None: everyone's.
        self.person = person
        self.clock = clock
        #: The last frame rendered (what the screen shows, or is about to).
        self.image: Image.Image | None = None
        self.renders = 0
        # What is shown.
        self._hr: float | None = None
        self._zone: int | None = None
        self._t: int | None = None
        self._workout: StepProgress | None = None
        self._cue: str = ""
        self._cue_id: object = None
        self._cue_since = 0.0
        self._dirty = False
        self._last_render = -1e9
        # Layout: the cue band at the bottom, heart rate and zone above it.
        self._cue_h = 13 if self.height >= 48 else 11
        top = self.height - self._cue_h
        self._big = self._fit(font_path, "188", int(self.width * 0.62), top - 2)
        self._mid = load_font(max(10, min(20, top // 3 + 2)), font_path)
        self._small = load_font(max(9, self._cue_h - 2), font_path)
        self._frames = FrameWriter(
            device, background=background, name="edgecoach-oled", what="display"
        )

    # -- the event sink -------------------------------------------------------------------------

    def emit(self, event: SessionEvent) -> None:
        """Take one session event; render now if the last render is old enough."""
        if not self._mine(event):
            return
        now = self.clock()
        match event:
            case SampleTaken(sample=sample):
                self._hr = sample.hr_bpm
                self._zone = event.zone
                self._t = sample.t
                self._workout = event.workout
            case CueDecided(cue=cue):
                self._show_cue(cue.template_text, cue.id, now)
            case CueSpoken(narration=words):
                # The words actually said replace the template they rephrase, without restarting.
                if words.cue_id == self._cue_id and words.text:
                    self._cue = words.text
            case SessionEnded(summary=summary):
                mean = summary.mean_hr
                text = f"Done: {clock_text(summary.duration_s)}"
                self._show_cue(
                    text + (f", mean {mean:.0f} bpm" if mean is not None else ""), "summary", now
                )
            case _:
                return
        self._dirty = True
        self.tick(now)

    def tick(self, now: float | None = None) -> bool:
        """Render if something changed or a cue is scrolling and the rate allows; True if so."""
        now = self.clock() if now is None else now
        if self.error is not None or now - self._last_render < self.min_interval_s:
            return False
        if self._cue and now - self._cue_since > self.cue_shown_s:
            self._cue, self._dirty = "", True
        if not (self._dirty or self._scrolling()):
            return False
        self._render(now)
        return True

    def close(self, *, clear: bool = True) -> None:
        """Stop the writer thread; switch the screen off (`clear`) or leave the last frame."""
        self._close(clear)

    # -- drawing --------------------------------------------------------------------------------

    def _show_cue(self, text: str, cue_id: object, now: float) -> None:
        self._cue, self._cue_id, self._cue_since = " ".join(text.split()), cue_id, now

    def _scrolling(self) -> bool:
        return bool(self._cue) and self._text_width(self._cue, self._small) > self.width

    def _render(self, now: float) -> None:
        image = Image.new(self.device.mode, (self.width, self.height))
        draw = ImageDraw.Draw(image)
        top = self.height - self._cue_h
        # Heart rate, big, left.
        hr = "---" if self._hr is None else f"{self._hr:.0f}"
        _place(draw, 0, top / 2, hr, self._big, "white")
        # Zone, right: a box, filled from zone 4 up.
        column = int(self.width * 0.66)
        zone = "Z-" if self._zone is None else f"Z{self._zone}"
        roomy = top >= 30  # a 128x32 screen has no room for the time under the zone
        box_h = min(top // 2 + 2, 24) if roomy else top - 3
        hard = self._zone is not None and self._zone >= 4
        draw.rectangle(
            (column, 0, self.width - 1, box_h), outline="white", fill="white" if hard else "black"
        )
        _place(
            draw,
            (column + self.width) / 2,
            box_h / 2 + 1,
            zone,
            self._mid,
            "black" if hard else "white",
            centre=True,
        )
        # Under it: the workout step and its time left, or the session time.
        if not roomy:
            line = ""
        elif self._workout:
            minutes, seconds = divmod(self._workout.remaining_s, 60)
            line = f"{minutes}:{seconds:02d}"
            label = _STEP_LABELS.get(self._workout.kind, "")
            if self._text_width(f"{label} {line}", self._small) <= self.width - column:
                line = f"{label} {line}"
        else:
            line = clock_text(self._t) if self._t is not None else ""
        if line:
            _place(
                draw,
                (column + self.width) / 2,
                (box_h + top) / 2 + 1,
                line,
                self._small,
                "white",
                centre=True,
            )
        # The cue, scrolling right to left when it does not fit.
        if self._cue:
            draw.line((0, top, self.width - 1, top), fill="white")
            width = self._text_width(self._cue, self._small)
            x = 0.0
            if width > self.width:
                gap = self.width // 3
                moving = max(0.0, now - self._cue_since - self.scroll_pause_s)
                x = -((moving * self.scroll_px_per_s) % (width + gap))
                _place(
                    draw,
                    x + width + gap,
                    top + self._cue_h / 2 + 1,
                    self._cue,
                    self._small,
                    "white",
                )
            _place(draw, x, top + self._cue_h / 2 + 1, self._cue, self._small, "white")
        self.image = image
        self.renders += 1
        self._dirty = False
        self._last_render = now
        self._show(image)

    def _show(self, image: Image.Image) -> None:
        self._frames.show(image)

    @staticmethod
    def _text_width(text: str, font: Font) -> float:
        return font.getlength(text)

    @staticmethod
    def _fit(path: Path | None, sample: str, width: int, height: int) -> Font:
        """The largest font whose `sample` fits in width x height."""
        size = max(8, height)
        while size > 8:
            font = load_font(size, path)
            left, top, right, bottom = font.getbbox(sample)
            if right - left <= width and bottom - top <= height:
                return font
            size -= 2
        return load_font(8, path)


def from_config(
    kind: str = "ssd1306",
    *,
    i2c_port: int = 1,
    address: int = 0x3C,
    width: int = 128,
    height: int = 64,
    rotate: int = 0,
    **options: Any,
) -> OledDisplay:
    """An `OledDisplay` on a screen wired to I2C (`kind` "ssd1306" or "sh1106"), or on an
    in-memory "dummy". `options` go to `OledDisplay`; hardware screens write from a thread.

    Raises DisplayError saying what to check when the screen cannot be opened.
    """
    if kind not in KINDS:
        raise DisplayError(f"unknown display kind {kind!r}: choose one of {', '.join(KINDS)}")
    try:
        import luma.core.device
        import luma.core.error
        from luma.core.interface.serial import i2c
    except ImportError as exc:
        raise DisplayError(f"the display needs luma.oled: pip install luma.oled ({exc})") from exc
    if kind == "dummy":
        device = luma.core.device.dummy(width=width, height=height, rotate=rotate, mode="1")
        return OledDisplay(device, **options)
    import luma.oled.device

    where = f"{kind} at I2C bus {i2c_port}, address {address:#04x}"
    try:
        serial = i2c(port=i2c_port, address=address)
        device = getattr(luma.oled.device, kind)(serial, width=width, height=height, rotate=rotate)
    except luma.core.error.DevicePermissionError as exc:
        raise DisplayError(
            f"no permission to open the {where}: add the user to the i2c group ({exc})"
        ) from exc
    except luma.core.error.DeviceNotFoundError as exc:
        raise DisplayError(
            f"no {where}: enable I2C (raspi-config, Interface Options) and check "
            f"the bus number ({exc})"
        ) from exc
    except (luma.core.error.Error, OSError) as exc:
        raise DisplayError(
            f"cannot open the {where}: check the wiring and the address "
            f"(`i2cdetect -y {i2c_port}` lists it) ({exc})"
        ) from exc
    options.setdefault("background", True)
    return OledDisplay(device, **options)
