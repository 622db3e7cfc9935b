"""Small screens beside the terminal display: what a person glances at while moving.

Each display is an event sink like `edge.display.TerminalDisplay`: a synchronous callable that
takes the session's events (``{"event": "sample", ...}``). `edge.displays.oled` drives 128x64
I2C OLEDs through luma.oled (``pip install luma.oled``).
"""

from __future__ import annotations

from edge.errors import EdgecoachError


class DisplayError(EdgecoachError):
    """A screen that cannot be opened or written: not wired, I2C off, wrong address, no luma."""
