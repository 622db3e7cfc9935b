"""An e-paper screen (2.13" to 7.5", black on white) showing the zone and the latest cue.

E-paper keeps its picture without power and takes seconds to redraw (a full refresh flashes the
panel; partial refreshes leave ghosts and wear it), so this layout shows what stays true between
refreshes and redraws only when that changes:

    +--------------------------------------+
    | ZONE 4  threshold              sam   |   the zone band: inverted from zone 4 up
    | 161-174 bpm               165 @ 12:34 |   the zone's range; heart rate when drawn
    |--------------------------------------|
    | Zone 4 now, heart rate 165. Hold      |   the latest cue's words, wrapped (no scrolling)
    | this effort.                          |
    +--------------------------------------+

A frame is drawn when the zone changes (a new zone must hold `zone_confirm_s` seconds of
samples first, so a wobble on a boundary does not flash the panel), when a cue's words arrive
(the words spoken for it, or its template if they have not come within `words_wait_s`), when
the signal is lost, and at the end of the session; never just because the heart rate moved.
Frames are at least `min_refresh_s` apart: a change during the wait is drawn when it ends
(`tick()`, or the `run()` task). The heart rate is printed small with the session time it was
read at, so an old number says it is old.

luma has no e-paper driver (luma.oled drives OLEDs, luma.lcd LCDs): `EpaperDisplay(device)`
takes luma's in-memory `luma.core.device.dummy(mode="1")` at a panel's resolution (tests, a
preview) or any object that looks like a luma device (`width`, `height`, `mode`,
`display(image)`, optionally `cleanup()`), such as a small wrapper around the panel vendor's
driver. Writes go through a worker thread with `background=True`, since a panel's refresh
blocks for seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from edge.core.events import CueDecided, CueSpoken, SampleTaken, SessionEnded, SessionEvent
from edge.core.zones import ZoneModel
from edge.displays import DisplayError
from edge.displays.frames import Font, FrameWriter, LumaScreen, clock_text, load_font

log = logging.getLogger(__name__)

__all__ = ["PANELS", "EpaperDisplay", "from_config"]

#: Common panels' resolutions (landscape), by their diagonal in inches.
PANELS: dict[str, tuple[int, int]] = {
    "2.13": (250, 122),
    "2.7": (264, 176),
    "2.9": (296, 128),
    "4.2": (400, 300),
    "7.5": (800, 480),
}

#: Zone names as the band shows them.
_ZONE_WORDS = {0: "very light", 1: "recovery", 2: "easy", 3: "steady", 4: "threshold", 5: "maximum"}


def wrap(text: str, font: Font, width: float, max_lines: int) -> list[str]:
    """`text` cut into lines no wider than `width`, at most `max_lines` (the last one ends
    with an ellipsis when words were left over)."""
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and font.getlength(last + "…") > width:
            last = last.rsplit(" ", 1)[0] if " " in last else last[:-1]
        lines[-1] = last + "…"
    return lines


class EpaperDisplay(LumaScreen):
    """Zone, zone range and the latest cue, redrawn only when one of them changes."""

    tick_s = 1.0
    close_timeout_s = 30.0

    def __init__(
        self,
        device: Any,
        *,
        min_refresh_s: float = 10.0,
        zone_confirm_s: int = 5,
        words_wait_s: float = 5.0,
        person: str | None = None,
        zones: ZoneModel | None = None,
        font_path: Path | None = None,
        background: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.width, self.height = device.width, device.height
        self.min_refresh_s = min_refresh_s
        self.zone_confirm_s = zone_confirm_s
        self.words_wait_s = words_wait_s
        #: Only this person's events (a daemon coaching several); None: everyone's.
        self.person = person
        #: The person's zones, to print the range of the zone shown; None prints none.
        self.zones = zones
        self.clock = clock
        #: The last frame drawn, and how many were.
        self.image: Image.Image | None = None
        self.refreshes = 0
        #: Why each frame was drawn ("zone", "cue", "signal", "summary", "first"), in order.
        self.reasons: list[str] = []
        # What the screen shows, and what it should show.
        self._shown: tuple[object, ...] | None = None
        self._zone: int | None = None
        self._candidate: tuple[int | None, int] | None = None  # (zone, samples held)
        self._hr: float | None = None
        self._t: int | None = None
        self._cue = ""
        self._cue_id: object = None
        self._waiting: tuple[object, str, float] | None = None  # (cue id, template, since)
        self._reason: str | None = None
        self._last_refresh = -1e9
        # Layout, in proportion to the panel.
        band = max(24, self.height // 4)
        self._band_h = band
        self._big = load_font(max(14, int(band * 0.62)), font_path)
        self._small = load_font(max(11, self.height // 11), font_path)
        self._text = load_font(max(12, min(self.height // 7, 40)), font_path)
        self._frames = FrameWriter(
            device,
            background=background,
            name="edgecoach-epaper",
            what="e-paper display",
            prepare=lambda image: image.convert(device.mode),
        )

    # -- the event sink -------------------------------------------------------------------------

    def emit(self, event: SessionEvent) -> None:
        """Take one session event; redraw if it changed what the screen should show."""
        if not self._mine(event):
            return
        now = self.clock()
        match event:
            case SampleTaken(sample=sample):
                self._t = sample.t
                if sample.hr_bpm is not None:
                    self._hr = float(sample.hr_bpm)
                self._sample_zone(event.zone, sample.hr_bpm)
            case CueDecided(cue=cue):
                self._waiting = (cue.id, cue.template_text, now)
            case CueSpoken(narration=words):
                if self._waiting is not None and words.cue_id == self._waiting[0]:
                    self._set_cue(words.text or self._waiting[1], self._waiting[0])
            case SessionEnded(summary=summary):
                mean = summary.mean_hr
                self._set_cue(
                    f"Done: {clock_text(summary.duration_s)}"
                    + (f", average {mean:.0f} bpm." if mean is not None else "."),
                    "summary",
                    reason="summary",
                )
                self._last_refresh = -1e9  # the last frame stays on the panel: draw it now
            case _:
                return
        self.tick(now)

    def tick(self, now: float | None = None) -> bool:
        """Draw if something worth a refresh changed and the panel may refresh; True if so."""
        now = self.clock() if now is None else now
        if self._waiting is not None and now - self._waiting[2] >= self.words_wait_s:
            self._set_cue(self._waiting[1], self._waiting[0])  # the words did not come
        if self.error is not None or self._reason is None:
            return False
        if now - self._last_refresh < self.min_refresh_s:
            return False
        self._render(now)
        return True

    def close(self, *, clear: bool = False) -> None:
        """Stop the writer thread. E-paper keeps its last frame without power, so by default
        it stays (the session's summary); `clear` blanks the panel."""
        self._close(clear)

    # -- what changes the picture -----------------------------------------------------------------

    def _sample_zone(self, zone: int | None, hr: object) -> None:
        if self._shown is None and hr is not None:  # the first reading: something to show
            self._zone = zone
            self._mark("first")
            return
        if zone == self._zone:
            self._candidate = None
            return
        held = self._candidate[1] + 1 if self._candidate and self._candidate[0] == zone else 1
        self._candidate = (zone, held)
        # A lost signal is news at once; a new zone once it has held.
        if zone is None or held >= self.zone_confirm_s:
            self._zone, self._candidate = zone, None
            self._mark("signal" if zone is None else "zone")

    def _set_cue(self, text: str, cue_id: object, *, reason: str = "cue") -> None:
        self._cue, self._cue_id, self._waiting = " ".join(text.split()), cue_id, None
        self._mark(reason)

    def _mark(self, reason: str) -> None:
        # The most telling reason of a batch: the end, then a cue, then the zone.
        order = ("summary", "cue", "signal", "zone", "first")
        if self._reason is None or order.index(reason) < order.index(self._reason):
            self._reason = reason

    # -- drawing --------------------------------------------------------------------------------

    def _render(self, now: float) -> None:
        image = Image.new("1", (self.width, self.height), 1)  # white paper
        draw = ImageDraw.Draw(image)
        band, margin = self._band_h, max(4, self.width // 60)
        hard = self._zone is not None and self._zone >= 4
        draw.rectangle((0, 0, self.width - 1, band), fill=0 if hard else 1, outline=0)
        ink = 1 if hard else 0
        title = "NO SIGNAL" if self._zone is None else f"ZONE {self._zone}"
        draw.text((margin, band / 2), title, font=self._big, fill=ink, anchor="lm")
        if self._zone is not None:
            left = margin + self._big.getlength(title) + margin * 2
            draw.text(
                (left, band / 2),
                _ZONE_WORDS.get(self._zone, ""),
                font=self._small,
                fill=ink,
                anchor="lm",
            )
        if self.person:
            draw.text(
                (self.width - margin, band / 2),
                self.person,
                font=self._small,
                fill=ink,
                anchor="rm",
            )
        # The zone's range (true until the zone changes), and the heart rate as of now.
        small_h = self._small.getbbox("0")[3]
        line_y = band + small_h
        if self.zones is not None and self._zone is not None:
            low, high = self.zones.bounds_bpm(self._zone)
            draw.text((margin, line_y), f"{low}-{high} bpm", font=self._small, fill=0, anchor="lm")
        if self._hr is not None and self._t is not None:
            draw.text(
                (self.width - margin, line_y),
                f"{self._hr:.0f} @ {clock_text(self._t)}",
                font=self._small,
                fill=0,
                anchor="rm",
            )
        rule = int(line_y + small_h)
        draw.line((0, rule, self.width - 1, rule), fill=0)
        # The cue, wrapped.
        if self._cue:
            line_h = self._text.getbbox("Hg")[3] + 2
            room = max(1, (self.height - rule - margin) // line_h)
            for index, text in enumerate(
                wrap(self._cue, self._text, self.width - 2 * margin, room)
            ):
                draw.text(
                    (margin, rule + margin // 2 + index * line_h), text, font=self._text, fill=0
                )
        self.image = image
        self.refreshes += 1
        self.reasons.append(self._reason or "")
        self._reason = None
        self._shown = (self._zone, self._cue_id)
        self._last_refresh = now
        self._show(image)

    def _show(self, image: Image.Image) -> None:
        self._frames.show(image)


def from_config(
    kind: str = "dummy",
    *,
    panel: str = "2.9",
    width: int = 0,
    height: int = 0,
    rotate: int = 0,
    zones: ZoneModel | None = None,
    **options: Any,
) -> EpaperDisplay:
    """An `EpaperDisplay` on luma's in-memory dummy device at `panel`'s resolution (or
    `width` x `height`). `zones` (a `ZoneModel`) lets the screen print each zone's range.

    Raises DisplayError for anything else: luma has no e-paper driver, so a real panel needs
    its vendor's driver wrapped as a luma-like device and handed to `EpaperDisplay`.
    """
    if kind != "dummy":
        raise DisplayError(
            f"no e-paper driver for {kind!r}: luma has none (luma.oled and luma.lcd drive OLED "
            'and LCD screens); use kind "dummy" to preview, or wrap the panel vendor\'s driver '
            "as a device with width, height, mode and display(image) for EpaperDisplay"
        )
    if not (width and height):
        if panel not in PANELS:
            raise DisplayError(
                f"unknown e-paper panel {panel!r}: choose one of "
                f"{', '.join(PANELS)} or give width and height"
            )
        width, height = PANELS[panel]
    try:
        import luma.core.device
    except ImportError as exc:
        raise DisplayError(f"the display needs luma.core: pip install luma.oled ({exc})") from exc
    device = luma.core.device.dummy(width=width, height=height, rotate=rotate, mode="1")
    return EpaperDisplay(device, zones=zones, **options)
