"""The OLED display, rendered onto luma's in-memory dummy device (the same frames a real
SSD1306 would be sent)."""

import logging

import pytest
from PIL import Image

pytest.importorskip("luma.core", reason="luma.oled is not installed (pip install luma.oled)")

from luma.core.device import dummy  # noqa: E402
from session_events import cue_event, sample_event, spoken_event, summary_event  # noqa: E402

from edge.core.cues import Action, CueKind  # noqa: E402
from edge.core.events import StepProgress  # noqa: E402
from edge.displays import DisplayError  # noqa: E402
from edge.displays.oled import OledDisplay, from_config  # noqa: E402

#: A cue too long for the screen's width: it scrolls.
LONG_CUE = cue_event(7, CueKind.ABOVE_MAX_HR, action=Action.STOP)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def display(width: int = 128, height: int = 64, **kwargs) -> tuple[OledDisplay, Clock]:
    clock = Clock()
    return OledDisplay(dummy(width=width, height=height, mode="1"), clock=clock, **kwargs), clock


def sample(hr, zone, t=754, **more):
    return sample_event(t, hr, zone, **more)


def lit(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    """Fraction of pixels on inside box (left, top, right, bottom)."""
    region = image.crop(box)
    histogram = region.histogram()
    return sum(histogram[1:]) / sum(histogram)


def test_heart_rate_and_zone_are_drawn_and_saved_legibly(tmp_path):
    screen, clock = display()
    screen(sample(152.0, 4))
    image = screen.device.image
    assert image is not None and image.mode == "1" and image.size == (128, 64)
    assert image.tobytes() == screen.image.tobytes()
    assert lit(image, (0, 0, 84, 50)) > 0.15  # big digits on the left
    assert lit(image, (86, 0, 127, 24)) > 0.6  # zone 4 and up: a filled box
    image.resize((512, 256)).save(tmp_path / "oled.png")  # looked at by eye once: legible
    # Another heart rate changes only the digits; an easy zone is an outlined box.
    clock.now += 1
    screen(sample(118.0, 1))
    other = screen.device.image
    assert other.crop((0, 0, 84, 50)).tobytes() != image.crop((0, 0, 84, 50)).tobytes()
    assert lit(other, (86, 0, 127, 24)) < 0.4
    # The same event draws the same frame.
    again, _ = display()
    again(sample(152.0, 4))
    assert again.device.image.tobytes() == image.tobytes()


def test_a_lost_signal_shows_dashes():
    screen, _ = display()
    screen(sample(None, None))
    gap = screen.device.image
    reference, _ = display()
    reference(sample(150.0, 3))
    assert (
        gap.crop((0, 0, 84, 50)).tobytes() != reference.device.image.crop((0, 0, 84, 50)).tobytes()
    )
    assert 0.01 < lit(gap, (0, 0, 84, 50)) < 0.1  # three dashes, not digits


def test_the_latest_cue_appears_and_a_long_one_scrolls():
    screen, clock = display()
    screen(sample(165.0, 4))
    assert lit(screen.device.image, (0, 52, 128, 64)) == 0  # no cue yet
    clock.now += 1
    screen(LONG_CUE)
    first = screen.device.image
    assert lit(first, (0, 52, 128, 64)) > 0.1
    band = lambda image: image.crop((0, 52, 128, 64)).tobytes()  # noqa: E731
    top = lambda image: image.crop((0, 0, 128, 50)).tobytes()  # noqa: E731
    clock.now += 1.0  # still in the pause before scrolling
    assert screen.tick() and band(screen.device.image) == band(first)
    clock.now += 2.0
    assert screen.tick()
    scrolled = screen.device.image
    assert band(scrolled) != band(first) and top(scrolled) == top(first)
    # A short cue stands still: nothing to redraw.
    clock.now += 1
    screen(cue_event(8, CueKind.SENSOR_BACK, action=Action.INFO))
    clock.now += 5
    assert not screen.tick()


def test_the_words_spoken_replace_the_template_of_their_cue():
    screen, clock = display()
    screen(cue_event(3))
    template = screen.device.image
    clock.now += 1
    screen(spoken_event(2, "An older cue's words."))
    assert screen.device.image.tobytes() == template.tobytes()
    clock.now += 1
    screen(spoken_event(3, "You're in zone 3 at 150."))
    assert screen.device.image.tobytes() != template.tobytes()


def test_rendering_is_rate_limited_and_catches_up_on_tick():
    screen, clock = display(max_fps=4)
    for n in range(20):  # 20 events in one second
        screen(sample(140.0 + n, 3, t=n))
        clock.now += 0.05
    assert screen.renders == 4  # at 0, 0.25, 0.5 and 0.75 s
    last_shown = screen.device.image
    clock.now += 0.3
    assert screen.tick()  # the last event (159) had not been drawn yet
    assert screen.device.image.tobytes() != last_shown.tobytes()
    assert not screen.tick()  # nothing new, nothing scrolling


def test_workout_step_and_summary_are_shown():
    screen, clock = display()
    screen(sample(163.0, 4))
    plain = screen.device.image
    clock.now += 1
    screen(
        sample(
            163.0,
            4,
            workout=StepProgress(
                step=2,
                steps=10,
                name="Interval 1",
                kind="work",
                zone=4,
                target_low=161,
                target_high=174,
                elapsed_s=97,
                remaining_s=83,
            ),
        )
    )
    assert (
        screen.device.image.crop((86, 26, 128, 50)).tobytes()
        != plain.crop((86, 26, 128, 50)).tobytes()
    )
    clock.now += 1
    screen(summary_event(2100, 142.4))
    assert lit(screen.device.image, (0, 52, 128, 64)) > 0.05


def test_only_its_person_is_shown():
    screen, _ = display(person="ana")
    screen(sample(150.0, 3, person="ben"))
    assert screen.renders == 0
    screen(sample(150.0, 3, person="ana"))
    assert screen.renders == 1


def test_a_128x32_screen_gets_the_same_things_smaller():
    screen, _ = display(height=32)
    screen(sample(152.0, 4))
    image = screen.device.image
    assert image.size == (128, 32) and lit(image, (0, 0, 84, 20)) > 0.05
    assert lit(image, (86, 0, 127, 17)) > 0.5  # the zone 4 box


def test_from_config_opens_a_dummy_or_says_what_is_wrong():
    screen = from_config("dummy", max_fps=10)
    screen(sample(150.0, 3))
    assert screen.device.image is not None and screen.min_interval_s == pytest.approx(0.1)
    with pytest.raises(DisplayError, match="unknown display kind 'ssd1309'"):
        from_config("ssd1309")
    # A real I2C open of a bus this machine does not have.
    with pytest.raises(DisplayError, match=r"no ssd1306 at I2C bus 99, address 0x3c: enable I2C"):
        from_config("ssd1306", i2c_port=99)


def test_frames_can_go_out_from_a_writer_thread():
    screen, clock = display(background=True)
    for n in range(3):
        screen(sample(150.0 + n, 3))
        clock.now += 1
    screen.close(clear=False)
    assert screen.device.image.tobytes() == screen.image.tobytes()  # the last frame arrived
    screen.close()  # twice is fine; clears the dummy


class BrokenBus(dummy):
    """A screen whose I2C writes fail, as a loose wire does (OSError from smbus)."""

    def display(self, image):
        raise OSError(121, "Remote I/O error")


def test_a_failing_screen_is_logged_once_and_left_dark(caplog):
    clock = Clock()
    screen = OledDisplay(BrokenBus(mode="1"), clock=clock)
    with caplog.at_level(logging.WARNING, logger="edge.displays.oled"):
        for n in range(5):
            screen(sample(150.0 + n, 3))
            clock.now += 1
    assert isinstance(screen.error, OSError) and screen.renders == 1
    assert caplog.text.count("display stopped") == 1
    screen.close()
