"""The gym fleet's pure parts and its files: topics and payloads, what leaves a Pi (and what
never does), the on-disk outbox, the board's tiles and summary log, the CA, certificates and
ACL, and the `[fleet]` settings. The real broker is in test_fleet_broker.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from session_events import cue_event, sample_event, spoken_event
from test_kiosk import CHROMIUM, Browser

from edge.core.cues import CueKind
from edge.core.events import SampleTaken, SessionEnded, WarningRaised
from edge.core.forecast import Forecast
from edge.core.summary import SessionSummary
from edge.errors import ConfigError, FleetConfigError
from edge.fleet.board import BrokerLink, FleetBoardState, Received, SummaryLog
from edge.fleet.connection import backoff_s
from edge.fleet.doctor import certificate_finding
from edge.fleet.events import read_event
from edge.fleet.live import LiveTracker, pseudonym
from edge.fleet.outbox import Outbox
from edge.fleet.pki import FleetLayout, acl_text, add_pi, init_fleet
from edge.fleet.publisher import FleetPublisher
from edge.fleet.schema import (
    CueLine,
    FleetPayloadError,
    MemberLive,
    Presence,
    SummaryMessage,
    Topic,
    check_name,
    check_pi_name,
    decode_live,
    decode_presence,
    decode_summary,
    encode_live,
    encode_presence,
    encode_summary,
    parse_topic,
    site_filters,
)
from edge.settings import FleetSettings, load_settings
from edge.stream.aligner import Gap
from edge.stream.readings import AlignedSample


def sample(person: str, t: int, hr: float | None, zone: int | None = 3) -> SampleTaken:
    """A second as a session emits it, with every raw field filled in."""
    return SampleTaken(
        AlignedSample(
            t=t,
            hr_bpm=hr,
            rr_intervals_s=(0.41, 0.42),
            cadence_spm=164,
            speed_mps=3.1,
            distance_m=812.5,
            steps=900,
            contact=True,
            hr_gap=hr is None,
        ),
        zone,
        hrr_fraction=None if hr is None else 0.71,
        forecast=Forecast(150.0, 152.0, 155.0, 149.0),
        person=person,
    )


SUMMARY = SessionEnded(
    SessionSummary(
        duration_s=1800,
        seconds_with_hr=1790,
        mean_hr=141.2,
        max_hr=178.0,
        time_in_zone_s={3: 900},
        distance_m=5012.3,
        steps=5400,
        gaps=(Gap(10, 4),),
        cues=7,
        spoken_by_model=3,
        spoken_by_template=4,
        forecast_mae_30s=3.2,
        forecast_checked=1700,
        cue_kinds={"zone_change": 7},
    ),
    person="sam",
)


# -- topics and payloads ------------------------------------------------------------------------


def test_topics_are_versioned_per_site_and_pi() -> None:
    assert site_filters("gym") == (
        "edgecoach/v1/gym/+/presence",
        "edgecoach/v1/gym/+/live",
        "edgecoach/v1/gym/+/summary/+",
    )
    assert parse_topic("edgecoach/v1/gym/pi-a/live") == Topic("gym", "pi-a", "live")
    assert parse_topic("edgecoach/v1/gym/pi-a/summary/pi-a.1f.3") == Topic(
        "gym", "pi-a", "summary", "pi-a.1f.3"
    )
    for bad in (
        "edgecoach/v2/gym/pi-a/live",
        "edgecoach/v1/gym/pi-a/live/x",
        "edgecoach/v1/gym/Pi A/live",
        "other/v1/gym/pi-a/live",
        "edgecoach/v1/gym",
    ):
        with pytest.raises(FleetPayloadError):
            parse_topic(bad)


@pytest.mark.parametrize("name", ["", "Pi", "pi_a", "-pi", "a" * 33, "pi/a", "pi+", "#"])
def test_names_must_be_safe_topic_levels(name: str) -> None:
    with pytest.raises(FleetConfigError, match="lowercase letters"):
        check_name("Pi", name)


def test_pi_names_of_the_board_and_broker_are_reserved() -> None:
    with pytest.raises(FleetConfigError, match="reserved"):
        check_pi_name("board")
    assert check_pi_name("studio-2") == "studio-2"


def test_payloads_round_trip() -> None:
    live = MemberLive(
        "sam",
        4,
        300,
        152,
        4,
        77,
        "ok",
        CueLine("high_zone", "Ease off.", False),
        1765000000.123,
        {"cadence": 164},
    )
    assert decode_live(encode_live(live)) == live
    presence = Presence(True, "studio", ("sam", "kim"), "", 1765000000.5)
    assert decode_presence(encode_presence(presence)) == presence
    summary = SummaryMessage("pi-a.0f.3", "sam", 1765000001.0, {"duration_s": 60})
    assert decode_summary(encode_summary(summary)) == summary
    assert json.loads(encode_live(live))["v"] == 1


@pytest.mark.parametrize(
    "payload, says",
    [
        (b"\xff", "UTF-8 JSON"),
        (b"[]", "JSON object"),
        (b'{"v": 2}', "version 2"),
        (b'{"v":1,"member":"a","signal":"resting","at":1}', "signal must be"),
        (b'{"v":1,"member":"a","signal":"ok","at":1,"hr":999}', "hr must be"),
        (b'{"v":1,"member":"","signal":"ok","at":1}', "member must be"),
        (b'{"v":1,"member":"a","signal":"ok","at":"now"}', "at must be a number"),
        (b'{"v":1,"member":"a","signal":"ok","at":1,"zone":true}', "zone must be"),
        (b" " * 20000, "over the"),
    ],
)
def test_bad_live_payloads_are_refused_with_a_reason(payload: bytes, says: str) -> None:
    with pytest.raises(FleetPayloadError, match=says):
        decode_live(payload)


# -- what leaves a Pi ---------------------------------------------------------------------------


def test_only_the_tile_leaves_a_pi_by_default() -> None:
    tracker = LiveTracker()
    assert tracker.apply(read_event(sample("sam", 10, 151.4)), at=100.0) == "sam"
    sent = json.loads(encode_live(tracker.payload("sam")))
    assert set(sent) == {
        "v",
        "member",
        "seq",
        "t",
        "hr",
        "zone",
        "effort_pct",
        "signal",
        "cue",
        "at",
    }
    assert sent["hr"] == 151 and sent["zone"] == 3 and sent["effort_pct"] == 71
    assert sent["signal"] == "ok" and sent["at"] == 100.0
    summary = tracker.summary_fields(read_event(SUMMARY).summary)
    assert set(summary) == {"duration_s", "mean_hr", "max_hr", "time_in_zone_s", "cues"}


def test_raw_fields_leave_only_when_shared_field_by_field() -> None:
    tracker = LiveTracker(share=("rr", "distance"))
    tracker.apply(read_event(sample("sam", 10, 150)), at=1.0)
    sent = json.loads(encode_live(tracker.payload("sam")))
    assert sent["rr"] == [0.41, 0.42] and sent["distance"] == 812.5
    assert "cadence" not in sent and "forecast" not in sent and "speed" not in sent
    summary = tracker.summary_fields(read_event(SUMMARY).summary)
    assert summary["distance_m"] == 5012.3 and summary["steps"] == 5400 and "gaps" not in summary


def test_pseudonyms_are_stable_keyed_and_replace_the_name_everywhere() -> None:
    assert pseudonym(b"k1", "sam") == pseudonym(b"k1", "sam") != pseudonym(b"k2", "sam")
    assert pseudonym(b"k1", "sam").startswith("Member ")
    tracker = LiveTracker(names="pseudonym", secret=b"k1")
    tracker.apply(read_event(sample("sam", 1, 120)), at=1.0)
    assert tracker.payload("sam").member == pseudonym(b"k1", "sam")
    assert "sam" not in encode_live(tracker.payload("sam")).decode()


def test_signal_cues_and_the_end_of_a_session() -> None:
    tracker = LiveTracker()
    tracker.apply(read_event(sample("sam", 1, None, None)), at=1.0)
    assert tracker.payload("sam").signal == "no_signal"
    tracker.apply(read_event(cue_event(4, CueKind.SENSOR_LOST, person="sam")), at=2.0)
    assert tracker.payload("sam").signal == "sensor_lost"
    stop = cue_event(5, CueKind.ABOVE_MAX_HR, person="sam")
    tracker.apply(read_event(stop), at=3.0)
    tracker.apply(
        read_event(spoken_event(4, "older words", kind=CueKind.SENSOR_LOST, person="sam")), at=3.5
    )
    assert tracker.payload("sam").cue == CueLine("above_max_hr", stop.cue.template_text, True)
    tracker.apply(
        read_event(spoken_event(5, "Stop and rest now.", kind=CueKind.ABOVE_MAX_HR, person="sam")),
        at=3.6,
    )
    assert tracker.payload("sam").cue.text == "Stop and rest now."
    tracker.apply(read_event(sample("sam", 4, 170)), at=4.0)
    assert tracker.payload("sam").signal == "ok"
    tracker.apply(read_event(SUMMARY), at=5.0)
    assert tracker.payload("sam").signal == "ended"
    assert read_event(WarningRaised("speech stopped", person="sam")) is None
    assert read_event(sample_event(1, 120, 2)) is None  # no person: not the daemon's


# -- the outbox ---------------------------------------------------------------------------------


def test_the_outbox_keeps_summaries_across_restarts_in_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    outbox.put("pi-a.1.1", b"one")
    outbox.put("pi-a.1.2", b"two")
    outbox.put("pi-a.1.1", b"again")  # the same id: kept once, the first copy
    (tmp_path / "outbox" / "000000000009-x.tmp").write_bytes(b"half")  # a crash mid-write
    again = Outbox(tmp_path / "outbox")
    assert [(p.id, p.payload) for p in again.pending()] == [
        ("pi-a.1.1", b"one"),
        ("pi-a.1.2", b"two"),
    ]
    assert not list((tmp_path / "outbox").glob("*.tmp"))
    again.remove("pi-a.1.1")
    assert [p.id for p in Outbox(tmp_path / "outbox").pending()] == ["pi-a.1.2"]
    mode = stat.S_IMODE((tmp_path / "outbox" / again.pending()[0].path.name).stat().st_mode)
    assert mode == 0o600


def test_a_full_outbox_drops_the_oldest_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(tmp_path, limit=2)
    for n in range(4):
        outbox.put(f"pi-a.1.{n}", b"x")
    assert [p.id for p in outbox.pending()] == ["pi-a.1.2", "pi-a.1.3"]
    assert outbox.dropped == 2 and "still in this Pi's store" in caplog.text
    with pytest.raises(ValueError, match="safe file name"):
        outbox.put("../etc/passwd", b"x")


def test_a_publisher_without_a_broker_keeps_coaching_and_keeps_the_summary(tmp_path: Path) -> None:
    layout = init_fleet(tmp_path / "fleet", "gym", ["127.0.0.1"], port=1)
    folder = add_pi(layout.folder, "pi-a")
    settings = FleetSettings(
        enabled=True,
        pi="pi-a",
        broker_port=1,
        ca_file=layout.ca_cert,
        cert_file=folder / "pi-a.crt",
        key_file=folder / "pi-a.key",
    )

    async def body() -> FleetPublisher:
        publisher = FleetPublisher(
            settings, state_dir=tmp_path / "state", session_ids={"sam": 7}, members=["sam"]
        )
        await publisher.start()
        publisher.emit(sample("sam", 1, 140))
        publisher.emit(SUMMARY)
        await asyncio.sleep(0.3)
        await publisher.stop(flush_s=0.5)
        return publisher

    publisher = asyncio.run(body())
    assert not publisher.connected.is_set() and publisher.failed_connects >= 1
    waiting = Outbox(tmp_path / "state" / "fleet" / "outbox").pending()
    assert [p.id for p in waiting] == [f"pi-a.{publisher._epoch}.7"]
    assert json.loads(waiting[0].payload)["summary"]["mean_hr"] == 141.2


def test_reconnecting_backs_off_to_five_seconds() -> None:
    assert [backoff_s(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


# -- the board ----------------------------------------------------------------------------------


def live(
    member: str, seq: int, hr: int | None = 150, signal: str = "ok", at: float = 1.0
) -> MemberLive:
    return MemberLive(member, seq, seq, hr, 3, 70, signal, None, at)


def test_the_board_marks_a_pi_offline_not_its_members_resting() -> None:
    board = FleetBoardState()
    board.apply(
        Received(Topic("gym", "pi-a", "presence"), Presence(True, "studio", ("sam", "kim")), 0.0),
        now=0.0,
    )
    assert [t.name for t in board.members.values()] == ["pi-a/sam", "pi-a/kim"]
    assert board.members["pi-a/kim"].as_dict(0.0)["signal"] == "waiting"
    board.apply(Received(Topic("gym", "pi-a", "live"), live("sam", 1), 1.0), now=1.0)
    tile = board.members["pi-a/sam"].as_dict(1.5)
    assert tile["hr"] == 150 and tile["signal"] == "ok" and tile["pi_online"] is True
    assert tile["room"] == "studio"
    changed = board.apply(
        Received(
            Topic("gym", "pi-a", "presence"), Presence(False, "studio", (), "connection lost"), 2.0
        ),
        now=2.0,
    )
    assert {t.name for t in changed} == {"pi-a/sam", "pi-a/kim"}
    tile = board.members["pi-a/sam"].as_dict(3.0)
    assert tile["pi_online"] is False and tile["pi_reason"] == "connection lost"
    assert tile["hr"] == 150  # the last reading is kept; the page shows "--" and "PI OFFLINE"
    assert len(board.apply(BrokerLink(False, "gone"), now=3.0)) == 2
    assert board.members["pi-a/kim"].as_dict(3.0)["broker_connected"] is False


def test_late_live_states_do_not_overwrite_newer_ones_and_summaries_end_a_session() -> None:
    board = FleetBoardState()
    topic = Topic("gym", "pi-a", "live")
    board.apply(Received(topic, live("sam", 5, 160, at=5.0), 5.0), now=5.0)
    assert board.apply(Received(topic, live("sam", 4, 120, at=4.0), 5.1), now=5.1) == []
    assert board.members["pi-a/sam"].as_dict(5.2)["hr"] == 160
    assert board.members["pi-a/sam"].as_dict(20.0)["signal"] == "no_signal"  # silent 15 s
    board.apply(
        Received(
            Topic("gym", "pi-a", "summary", "pi-a.1.1"),
            SummaryMessage("pi-a.1.1", "sam", 6.0, {"duration_s": 60}),
            6.0,
        ),
        now=6,
    )
    assert board.members["pi-a/sam"].as_dict(6.0)["ended"] is True
    board.apply(Received(topic, live("sam", 1, 100, at=9.0), 9.0), now=9.0)  # a new session
    assert board.members["pi-a/sam"].as_dict(9.0)["ended"] is False


def test_the_summary_log_records_each_id_once_across_restarts(tmp_path: Path) -> None:
    log = SummaryLog(tmp_path / "s.jsonl")
    message = SummaryMessage("pi-a.1.1", "sam", 6.0, {"duration_s": 60})
    assert log.record("pi-a", message, 7.0) is True
    assert log.record("pi-a", message, 8.0) is False
    again = SummaryLog(tmp_path / "s.jsonl")
    assert again.record("pi-a", message, 9.0) is False and again.duplicates == 1
    assert len((tmp_path / "s.jsonl").read_text().splitlines()) == 1


# -- the CA, certificates and ACL ---------------------------------------------------------------


def test_fleet_init_and_add_pi_make_a_ca_certificates_and_an_acl(tmp_path: Path) -> None:
    layout = init_fleet(tmp_path / "gym", "gym", ["10.0.0.5"], port=8883)
    folder = add_pi(layout.folder, "pi-a", room="studio")
    add_pi(layout.folder, "pi-b", room="floor")
    for key in ("ca.key", "broker.key", "board.key", "pis/pi-a/pi-a.key"):
        assert stat.S_IMODE((layout.folder / key).stat().st_mode) == 0o600, key
    ca = x509.load_pem_x509_certificate((layout.folder / "ca.crt").read_bytes())
    broker = x509.load_pem_x509_certificate((layout.folder / "broker.crt").read_bytes())
    pi = x509.load_pem_x509_certificate((folder / "pi-a.crt").read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    broker.verify_directly_issued_by(ca)
    pi.verify_directly_issued_by(ca)
    sans = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert pi.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pi-a"
    assert (
        ExtendedKeyUsageOID.CLIENT_AUTH
        in pi.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    acl = (layout.folder / "acl").read_text()
    assert "user board\ntopic read edgecoach/v1/gym/#" in acl
    assert "user pi-a\ntopic write edgecoach/v1/gym/pi-a/#" in acl
    assert "user pi-b\ntopic write edgecoach/v1/gym/pi-b/#" in acl
    assert "readwrite" not in acl and "pattern" not in acl
    conf = (layout.folder / "mosquitto.conf").read_text()
    for line in (
        "allow_anonymous false",
        "require_certificate true",
        "use_identity_as_username true",
        "listener 8883",
    ):
        assert line in conf
    assert FleetLayout.load(layout.folder).pis == (("pi-a", "studio"), ("pi-b", "floor"))
    toml = (folder / "fleet.toml").read_text()
    assert 'pi = "pi-a"' in toml and 'broker_host = "10.0.0.5"' in toml


def test_fleet_init_refuses_host_names_and_a_second_ca(tmp_path: Path) -> None:
    with pytest.raises(FleetConfigError, match="not an IP address"):
        init_fleet(tmp_path / "a", "gym", ["broker.gym.lan"])
    init_fleet(tmp_path / "b", "gym", ["10.0.0.5"])
    with pytest.raises(FleetConfigError, match="already holds a gym CA"):
        init_fleet(tmp_path / "b", "gym", ["10.0.0.5"])
    with pytest.raises(FleetConfigError, match="no fleet.json"):
        add_pi(tmp_path / "nowhere", "pi-a")
    assert acl_text("gym", []).count("\nuser ") == 1


def test_doctor_reads_a_certificate_offline(tmp_path: Path) -> None:
    layout = init_fleet(tmp_path / "gym", "gym", ["127.0.0.1"])
    folder = add_pi(layout.folder, "pi-a", days=20)
    settings = FleetSettings(
        pi="pi-a",
        ca_file=layout.ca_cert,
        cert_file=folder / "pi-a.crt",
        key_file=folder / "pi-a.key",
    )
    soon = certificate_finding(settings)
    assert soon.ok and soon.warn and "days left" in soon.detail
    later = certificate_finding(settings, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))
    assert not later.ok and "expired" in later.detail and "fleet add-pi pi-a" in later.fix
    other = FleetSettings(
        pi="pi-b",
        ca_file=layout.ca_cert,
        cert_file=folder / "pi-a.crt",
        key_file=folder / "pi-a.key",
    )
    assert "the certificate is for 'pi-a', this Pi is 'pi-b'" in certificate_finding(other).detail
    missing = FleetSettings(
        pi="pi-a",
        ca_file=layout.ca_cert,
        cert_file=tmp_path / "none.crt",
        key_file=folder / "pi-a.key",
    )
    assert "cannot read" in certificate_finding(missing).detail


# -- settings -----------------------------------------------------------------------------------


def test_fleet_settings_load_with_paths_beside_the_config(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[fleet]\nenabled = true\npi = "pi-a"\nroom = "studio"\n'
        'broker_host = "192.168.1.10"\nca_file = "fleet/ca.crt"\n'
        'cert_file = "fleet/pi-a.crt"\nkey_file = "/etc/edgecoach/pi-a.key"\n'
        'share = ["rr"]\nnames = "pseudonym"\n'
    )
    fleet = load_settings(config).fleet
    assert fleet.enabled and fleet.ca_file == tmp_path / "fleet/ca.crt"
    assert fleet.key_file == Path("/etc/edgecoach/pi-a.key") and fleet.share == ("rr",)
    assert load_settings(None).fleet.enabled is False


@pytest.mark.parametrize(
    "body, says",
    [
        ('enabled = true\npi = "pi-a"', "fleet mode needs ca_file, cert_file, key_file"),
        ('enabled = true\nca_file = "a"\ncert_file = "b"\nkey_file = "c"', "Pi name ''"),
        ('broker_host = "broker.lan"', "not an IP address"),
        ('share = ["store"]', "unknown field 'store'"),
        ('names = "initials"', 'names must be "name" or "pseudonym"'),
        ('site = "My Gym"', "site name 'My Gym'"),
        ("keepalive_s = 600", "keepalive_s must be"),
    ],
)
def test_bad_fleet_settings_are_refused_by_name(tmp_path: Path, body: str, says: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f"[fleet]\n{body}\n")
    with pytest.raises(ConfigError, match="fleet") as caught:
        load_settings(config)
    assert says in str(caught.value)


# -- the board page, 60 members in a real browser -----------------------------------------------


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
def test_sixty_members_fit_one_screen_grouped_by_room(tmp_path: Path) -> None:
    from edge.fleet.board import fleet_board

    rooms = {
        "pi-1": "Studio",
        "pi-2": "Studio",
        "pi-3": "Floor",
        "pi-4": "Floor",
        "pi-5": "Annex",
        "pi-6": "Annex",
    }

    async def body() -> None:
        board = fleet_board(FleetSettings(), host="127.0.0.1", port=0)
        await board.start()
        browser = None
        try:
            board.emit(BrokerLink(True, "connected"))
            now = time.time()
            for pi, room in rooms.items():
                members = tuple(f"{pi[-1]}-member {n:02d}" for n in range(10))
                board.emit(
                    Received(
                        Topic("gym", pi, "presence"), Presence(pi != "pi-6", room, members), now
                    )
                )
                for n, member in enumerate(members):
                    board.emit(
                        Received(
                            Topic("gym", pi, "live"),
                            MemberLive(member, 1, 60, 120 + n * 6, n % 6, 50 + n, "ok", None, now),
                            now,
                        )
                    )
            browser = await Browser.launch(board.url, tmp_path / "profile", tmp_path / "chrome.log")
            await browser.wait_for("document.querySelectorAll('article.tile').length === 60")
            layout = await browser.evaluate("""(() => {
                const tiles = [...document.querySelectorAll('article.tile')];
                const boxes = tiles.map(t => t.getBoundingClientRect());
                return {
                  rooms: [...document.querySelectorAll('h1.room')].map(h => h.dataset.room),
                  bottom: Math.max(...boxes.map(b => b.bottom)), height: innerHeight,
                  minHeight: Math.min(...boxes.map(b => b.height)),
                  hrFont: parseFloat(getComputedStyle(tiles[0].querySelector('.hr')).fontSize),
                  offline: tiles.filter(t => t.dataset.state === 'pi_offline').length,
                  live: tiles.filter(t => t.dataset.state === 'ok').length,
                  firstRoom: tiles[0].dataset.room,
                };
            })()""")
            assert layout["rooms"] == ["Annex", "Floor", "Studio"]
            assert layout["firstRoom"] == "Annex"
            assert layout["bottom"] <= layout["height"], json.dumps(layout)  # one screen
            assert layout["minHeight"] >= 90 and layout["hrFont"] >= 28, layout
            assert layout["offline"] == 10 and layout["live"] == 50
            png = await browser.screenshot()
            (tmp_path / "board.png").write_bytes(png)
            assert browser.errors == []
        finally:
            if browser is not None:
                await browser.close()
            await board.stop()

    asyncio.run(asyncio.wait_for(body(), 60))


def test_a_missing_certificate_stops_the_publisher_at_start_with_the_file_named(
    tmp_path: Path,
) -> None:
    settings = FleetSettings(
        enabled=True,
        pi="pi-a",
        ca_file=tmp_path / "ca.crt",
        cert_file=tmp_path / "pi-a.crt",
        key_file=tmp_path / "pi-a.key",
    )
    publisher = FleetPublisher(settings, state_dir=tmp_path)
    with pytest.raises(FleetConfigError, match=r"ca\.crt does not exist: copy the files"):
        asyncio.run(publisher.start())


def test_a_sample_goes_at_once_and_a_cue_waits_for_the_next_sample() -> None:
    now = [100.0]
    publisher = FleetPublisher(
        FleetSettings(), state_dir=Path("/nonexistent"), monotonic=lambda: now[0]
    )
    publisher.emit(sample("sam", 1, 150))
    assert publisher._due == {"sam": 100.0}
    publisher._due.clear()  # as the publishing loop does when it sends
    publisher._with_sample.clear()
    publisher._last_sample_sent["sam"] = 100.0
    publisher.emit(cue_event(3, CueKind.HIGH_ZONE, t=1, person="sam"))
    assert publisher._due == {"sam": 101.0}  # alone only if no sample comes within a second
    now[0] = 100.98
    publisher.emit(sample("sam", 2, 151))
    assert publisher._due == {"sam": 100.98}  # the next sample: at once, with the cue
    publisher._due.clear()
    publisher._last_sample_sent["sam"] = 100.98
    now[0] = 101.2  # a burst (a simulation faster than real time): held to ~1 Hz
    publisher.emit(sample("sam", 3, 152))
    assert publisher._due["sam"] == pytest.approx(100.98 + 0.9)


def test_the_fleet_command_makes_a_fleet_and_a_pi_whose_config_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from edge.cli import main

    folder = tmp_path / "gym"
    assert main(["fleet", "init", "--dir", str(folder), "--broker-address", "10.0.0.5"]) == 0
    assert main(["fleet", "add-pi", "studio-1", "--dir", str(folder), "--room", 'Studio "A"']) == 0
    out = capsys.readouterr().out
    assert "mosquitto -c" in out and "kill -HUP" in out
    config = tmp_path / "config.toml"
    config.write_text((folder / "pis/studio-1/fleet.toml").read_text())
    fleet = load_settings(config).fleet
    assert fleet.enabled and fleet.pi == "studio-1" and fleet.room == 'Studio "A"'
    assert fleet.broker_host == "10.0.0.5" and fleet.broker_port == 8883
    assert main(["fleet", "add-pi", "Studio 1", "--dir", str(folder)]) == 2
    assert "lowercase letters" in capsys.readouterr().err


def test_doctor_says_when_the_units_firewall_would_block_the_broker(tmp_path: Path) -> None:
    from edge.fleet.doctor import firewall_finding

    fleet = FleetSettings(broker_host="192.168.1.10")
    assert firewall_finding(fleet, tmp_path).ok  # no unit installed: nothing limits it
    (tmp_path / "edgecoach.service").write_text("[Service]\nIPAddressAllow=localhost\n")
    blocked = firewall_finding(fleet, tmp_path)
    assert not blocked.ok and "admits loopback only" in blocked.detail
    assert "install.sh --fleet-broker 192.168.1.10" in blocked.fix
    (tmp_path / "edgecoach.service.d").mkdir()
    dropin = tmp_path / "edgecoach.service.d" / "fleet.conf"
    dropin.write_text("[Service]\nIPAddressAllow=192.168.1.9\n")
    assert "not the broker 192.168.1.10" in firewall_finding(fleet, tmp_path).detail
    dropin.write_text("# written by install.sh\n[Service]\nIPAddressAllow=192.168.1.10\n")
    assert firewall_finding(fleet, tmp_path).ok
    assert firewall_finding(FleetSettings(broker_host="127.0.0.1"), tmp_path).ok
