"""The vocabulary every layer of the device speaks: zones, cues, forecasts, narrations, the
session summary and the typed events a session emits. Plain values, no I/O, no feature imports:
the lowest layer of `edge`, beside `edge.stream` (readings and aligned samples), `edge.profile`
and `edge.errors`."""
