"""Gym fleet: many Pis, one zone board, over MQTT on the gym's own network. No cloud.

The path a member's second takes, in order:

    session event (dict)        the daemon's sink fan-out, as the kiosk board gets it
    events.read_event()         the one adapter from session events to what the fleet reads
    live.LiveTracker            the member's tile state: name or pseudonym, zone, HR, cue, signal
    publisher.FleetPublisher    QoS 0 live state (<= 1 Hz a member), retained presence with a
                                last will, QoS 1 summaries from a bounded on-disk outbox
    mosquitto                   TLS, a certificate per Pi, an ACL: a Pi writes its own prefix only
    board.FleetSubscriber       decodes, keeps presence, dedups summaries by id
    board.FleetBoardState       the tiles, grouped by room; a Pi offline greys its members
    edge.kiosk.KioskBoard       the page over Server-Sent Events on loopback (headless Chromium)

`schema` is the topic layout and payloads (pure, versioned); `pki` makes the gym CA, the
certificates and the broker's config and ACL (`edgecoach fleet init|add-pi`); `doctor` checks
a Pi's certificate and the broker from the device.
"""
