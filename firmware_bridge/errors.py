"""The band side's own errors: bytes that break a GATT specification, a virtual bus that will not
start. `edge.errors` re-exports them, so the daemon's one error tree still catches them."""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error `firmware_bridge` raises on purpose; the message says what to do."""

    #: Process exit status the command line uses for this kind of error.
    exit_code: int = 1


class MalformedPayloadError(BridgeError):
    """A BLE characteristic value that does not follow its GATT specification."""

    def __init__(self, characteristic: str, payload: bytes, reason: str) -> None:
        self.characteristic = characteristic
        self.payload = bytes(payload)
        self.reason = reason
        shown = self.payload.hex(" ") if self.payload else "(empty)"
        super().__init__(f"{characteristic}: {reason} (bytes: {shown})")


class VirtualBusError(BridgeError):
    """The private D-Bus behind the virtual bands could not be started."""
