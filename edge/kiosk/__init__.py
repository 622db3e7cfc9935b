"""The gym's zone board: every member's heart rate, zone and latest cue on a screen, live."""

from edge.kiosk.server import KioskBoard
from edge.kiosk.state import BoardState, MemberState

__all__ = ["BoardState", "KioskBoard", "MemberState"]
