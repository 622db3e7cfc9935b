"""Revolution counters with event times, as Cycling Speed and Cadence (0x2A5B) and Cycling Power
(0x2A63) both send them: rates from two consecutive (count, event time) pairs, wraps included."""

from __future__ import annotations

import math

_UINT16_MOD = 1 << 16


def revolutions_between(
    previous: tuple[int, int] | None,
    current: tuple[int, int] | None,
    counter_bits: int,
    ticks_per_second: int,
) -> tuple[float, int] | None:
    """(revolutions per second, revolutions) between two (count, event time) pairs, or None.

    Differences are taken modulo the field widths, which is what makes a wrapped event time
    (65000 -> 500) or counter (0xFFFF -> 0) come out right. None when:

    - either side has no pair: the sensor did not send that data;
    - the event time did not advance: no new revolution finished, so the sensor is telling us
      nothing new. That is *not* a rate of zero: a rider between pedal strokes at 30 rpm looks
      the same for up to two seconds. Deciding "stopped" needs a timeout, which is the caller's
      policy (and clock), not the codec's;
    - the counter went backwards, i.e. its modular difference is at least half its range: a
      sensor reset or a count written through the control point, not 2^31 wheel turns.
    """
    if previous is None or current is None:
        return None
    counter_mod = 1 << counter_bits
    revs = (current[0] - previous[0]) % counter_mod
    ticks = (current[1] - previous[1]) % _UINT16_MOD
    if ticks == 0 or revs >= counter_mod // 2:
        return None
    return revs * ticks_per_second / ticks, revs


def check_circumference(metres: float) -> float:
    """`metres` if it is a usable wheel circumference, else ValueError."""
    if isinstance(metres, bool) or not (
        isinstance(metres, int | float) and math.isfinite(metres) and metres > 0
    ):
        raise ValueError(f"wheel circumference must be a positive number of metres, got {metres!r}")
    return metres
