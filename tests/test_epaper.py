"""The e-paper screen on luma's in-memory dummy device at real panel resolutions: what it
draws, and above all when it redraws (zone changes and cues, never every second)."""

from __future__ import annotations

import pytest

pytest.importorskip("luma.core", reason="luma.oled is not installed (pip install luma.oled)")

from luma.core.device import dummy
from PIL import Image
from session_events import cue_event, sample_event, spoken_event, summary_event

from edge.core.cues import Action, CueKind
from edge.core.events import SampleTaken
from edge.core.zones import ZoneModel
from edge.displays import DisplayError
from edge.displays.epaper import PANELS, EpaperDisplay, from_config, wrap

ZONES = ZoneModel(resting_hr=58, max_hr=187)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def screen(panel: str = "2.9", **options) -> tuple[EpaperDisplay, Clock]:
    clock = Clock()
    width, height = PANELS[panel]
    options.setdefault("min_refresh_s", 10.0)
    return EpaperDisplay(
        dummy(width=width, height=height, mode="1"),
        clock=clock,
        zones=ZONES,
        person="sam",
        **options,
    ), clock


def sample(t: int, hr: float | None, person: str = "sam") -> SampleTaken:
    return sample_event(t, hr, None if hr is None else ZONES.zone(hr), person=person)


def ink(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    """Fraction of black pixels inside box."""
    region = image.crop(box).convert("L")
    histogram = region.histogram()
    return histogram[0] / max(1, sum(histogram))


def play(display: EpaperDisplay, clock: Clock, events, step_s: float = 1.0) -> None:
    for event in events:
        display.emit(event)
        clock.now += step_s
        display.tick()


def test_a_steady_zone_is_drawn_once_however_the_heart_rate_moves():
    display, clock = screen()
    play(display, clock, [sample(t, 140 + t % 4) for t in range(120)])  # zone 2, wobbling
    assert display.refreshes == 1 and display.reasons == ["first"]
    assert display.device.image.mode == "1" and display.device.image.size == (296, 128)


def test_a_zone_change_redraws_once_it_holds_and_a_wobble_does_not():
    display, clock = screen()
    events = [sample(t, 140) for t in range(20)]
    events += [sample(20, 149), sample(21, 147)]  # two seconds in zone 3, then back: a wobble
    events += [sample(t, 140) for t in range(22, 40)]
    events += [sample(t, 152) for t in range(40, 60)]  # zone 3 for good
    play(display, clock, events)
    assert display.reasons == ["first", "zone"]


def test_cues_redraw_with_the_words_spoken_or_the_template_if_none_come():
    display, clock = screen(words_wait_s=5.0)
    play(display, clock, [sample(t, 140) for t in range(15)])
    display.emit(cue_event(3, t=15, person="sam"))
    assert display.refreshes == 1  # waiting for the words
    display.emit(spoken_event(3, "Easy zone 2 now, hold it.", person="sam"))
    assert display.refreshes == 2 and display.reasons[-1] == "cue"
    clock.now += 30
    back = cue_event(4, CueKind.SENSOR_BACK, t=45, action=Action.INFO, person="sam")
    display.emit(back)
    play(display, clock, [sample(t, 141) for t in range(46, 56)])  # no spoken event
    assert display.refreshes == 3 and display.reasons[-1] == "cue"
    assert display._cue == back.cue.template_text


def test_refreshes_are_at_least_min_refresh_s_apart_and_what_waited_is_drawn_after():
    display, clock = screen(min_refresh_s=20.0)
    display.emit(sample(0, 140))
    assert display.refreshes == 1
    display.emit(cue_event(1, person="sam"))
    display.emit(spoken_event(1, "One.", person="sam"))
    assert display.refreshes == 1  # too soon after the first frame
    clock.now += 19
    assert not display.tick()
    clock.now += 1
    assert display.tick() and display.refreshes == 2 and not display.tick()


def test_signal_loss_is_drawn_at_once_and_only_this_persons_events_count():
    display, clock = screen(min_refresh_s=0.0)
    play(display, clock, [sample(t, 150) for t in range(5)])
    play(display, clock, [sample(t, 170, person="alex") for t in range(5, 30)])
    assert display.refreshes == 1
    display.emit(sample(30, None))
    assert display.reasons == ["first", "signal"]
    image = display.device.image
    assert ink(image, (0, 0, 296, 32)) < 0.5  # no zone band fill: not zone 4 or 5


def test_the_layout_inverts_the_band_from_zone_4_and_wraps_the_cue():
    display, clock = screen("4.2", min_refresh_s=0.0)
    play(display, clock, [sample(t, 168) for t in range(10)])  # zone 4
    text = "Zone 4 now, heart rate 168. Hold this effort, you are right where you should be."
    display.emit(cue_event(1, person="sam"))
    display.emit(spoken_event(1, text, person="sam"))
    image = display.device.image
    assert image.size == (400, 300)
    assert ink(image, (0, 0, 400, 70)) > 0.6  # the zone band is black
    assert ink(image, (0, 120, 400, 300)) > 0.01  # the cue is written
    lines = wrap(text, display._text, 400 - 2 * 6, 10)
    assert len(lines) >= 2 and " ".join(lines) == text


def test_the_summary_is_the_last_frame_and_stays():
    display, _ = screen(min_refresh_s=60.0)
    display.emit(sample(0, 140))
    display.emit(summary_event(1830, 142.4, person="sam"))
    assert (
        display.reasons == ["first", "summary"] and display._cue == "Done: 30:30, average 142 bpm."
    )
    display.close()  # e-paper keeps the picture: not cleared


def test_wrap_ends_with_an_ellipsis_when_out_of_room():
    display, _ = screen("2.13")
    lines = wrap("word " * 60, display._text, 100, 2)
    assert len(lines) == 2 and lines[-1].endswith("…")


def test_from_config_dummy_panels_and_clear_errors():
    display = from_config("dummy", panel="7.5", zones=ZONES)
    assert (display.width, display.height) == (800, 480)
    assert (from_config(width=200, height=100).width) == 200
    with pytest.raises(DisplayError, match="luma has none"):
        from_config("waveshare")
    with pytest.raises(DisplayError, match="unknown e-paper panel"):
        from_config(panel="3.3")


def test_a_failing_panel_is_logged_once_and_left(caplog):
    class Broken:
        width, height, mode = 296, 128, "1"
        calls = 0

        def display(self, image):
            Broken.calls += 1
            raise OSError("SPI write failed")

    display = EpaperDisplay(Broken(), min_refresh_s=0.0)
    display.emit(sample(0, 150))
    display.emit(sample(1, None))
    assert Broken.calls == 1 and isinstance(display.error, OSError)
    assert "e-paper display stopped" in caplog.text
