"""Sensor sources: BLE bands, replayed recordings and the simulator, behind one interface."""

from edge.sources.base import SensorSource

__all__ = ["SensorSource"]
