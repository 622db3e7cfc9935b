"""The band side: GATT codecs, a workout simulator and the virtual band used by tests and demos."""
