"""Quiet hours: only safety is spoken in them; a bad span in the config is refused by name."""

import asyncio
import time as clock_time
from datetime import datetime, time

import pytest

from edge.core.cues import Priority
from edge.core.quiet import QuietHours
from edge.errors import ConfigError
from edge.settings import load_settings
from edge.speech.queue import SpeechQueue


def test_a_span_past_midnight_covers_the_night_only():
    night = QuietHours.parse(["22:00-07:00"])
    assert night.active(time(23, 30)) and night.active(time(0, 0)) and night.active(time(6, 59))
    assert not night.active(time(7, 0)) and not night.active(time(12, 0))
    assert not night.active(time(21, 59))


def test_several_spans_and_none():
    spans = QuietHours.parse(["12:30-13:30", "22:00-23:00"])
    assert spans.active(time(13, 0)) and spans.active(time(22, 15))
    assert not spans.active(time(14, 0))
    assert QuietHours.parse([]).checker() is None


@pytest.mark.parametrize("bad", ["22-07", "25:00-07:00", "10:00-10:00", "night"])
def test_a_bad_span_in_the_config_names_the_file_and_the_format(tmp_path, bad):
    config = tmp_path / "edgecoach.toml"
    config.write_text(f'[speech]\nquiet_hours = ["{bad}"]\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    message = str(caught.value)
    assert str(config) in message and "quiet_hours" in message and bad in message


def test_the_config_file_sets_quiet_hours(tmp_path):
    config = tmp_path / "edgecoach.toml"
    config.write_text('[speech]\nquiet_hours = ["22:00-07:00"]\n')
    assert load_settings(config).speech.quiet_hours == ("22:00-07:00",)


class Recorder:
    destination = "a test speaker"

    def __init__(self):
        self.said = []

    async def say(self, text):
        self.said.append(text)


def test_in_quiet_hours_only_safety_is_spoken():
    speaker = Recorder()
    clock = {"now": datetime(2026, 12, 1, 23, 0)}
    quiet = QuietHours.parse(["22:00-07:00"]).checker(lambda: clock["now"])

    async def scenario():
        queue = SpeechQueue(speaker, quiet=quiet)
        await queue.put(
            "Zone 3 now.",
            priority=Priority.ZONE,
            created=clock_time.perf_counter(),
            cue_kind="zone_change",
        )
        await queue.put(
            "Stop and rest now.",
            priority=Priority.SAFETY,
            created=clock_time.perf_counter(),
            cue_kind="above_max_hr",
        )
        await asyncio.sleep(0.05)
        clock["now"] = datetime(2026, 12, 2, 7, 30)  # morning: everything is spoken again
        await queue.put(
            "Zone 2 now.",
            priority=Priority.ZONE,
            created=clock_time.perf_counter(),
            cue_kind="zone_change",
        )
        return await queue.close()

    stats = asyncio.run(scenario())
    assert speaker.said == ["Stop and rest now.", "Zone 2 now."]
    assert stats.dropped == {"quiet_hours": 1}
