"""Fitness Machine Service (FTMS, 0x1826) codecs: treadmills, cross trainers, rowers and indoor
bikes, what they can do, and the control point that drives them.

- `data`: the four data records and the assembler for records split over notifications;
- `features`: Fitness Machine Feature, the supported ranges and Training Status;
- `control`: the control point (requests and response indications) and the status
  notifications.

Everything is re-exported here, so callers import from ``firmware_bridge.gatt.fitness_machine``.
"""

from __future__ import annotations

from .control import *
from .control import __all__ as _control_all
from .data import *
from .data import __all__ as _data_all
from .features import *
from .features import __all__ as _features_all

__all__ = sorted([*_control_all, *_data_all, *_features_all])  # noqa: PLE0605
