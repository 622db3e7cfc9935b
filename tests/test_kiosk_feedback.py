"""The zone board's "How did it feel?": `POST /feedback`, the daemon's recorder, a real browser.

HTTP helpers, the event factories and the headless-Chromium `Browser` come from test_kiosk.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from blockbuster import blockbuster_ctx

import edge.kiosk.server as kiosk_server
from edge.daemon import feedback_recorder
from edge.kiosk import KioskBoard
from edge.profile import Profile
from edge.settings import Settings
from edge.store import FeedbackError, SessionStore
from edge.training.inputs import load_inputs
from edge.training.plan import Feedback
from tests.test_kiosk import CHROMIUM, http_get, open_gym_board, run, sample

#: Generous: these run beside other work on two shared cores.
TIMEOUT = 60.0


async def http_post(
    port: int,
    path: str,
    body: bytes | str | dict,
    *,
    host: str = "127.0.0.1",
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
    length: bool = True,
) -> tuple[int, dict[str, str], bytes]:
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    head = {"Host": f"{host}:{port}"}
    if content_type is not None:
        head["Content-Type"] = content_type
    if length:
        head["Content-Length"] = str(len(body))
    head.update(headers or {})
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"POST {path} HTTP/1.1\r\n".encode()
            + "".join(f"{k}: {v}\r\n" for k, v in head.items()).encode()
            + b"\r\n"
            + body
        )
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    response_head, _, response_body = raw.partition(b"\r\n\r\n")
    lines = response_head.decode("latin-1").split("\r\n")
    response_headers = {
        k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
    }
    return int(lines[0].split(" ")[1]), response_headers, response_body


class FakeRecorder:
    """An `on_feedback` that remembers its calls and answers as the daemon's does."""

    def __init__(self, fail: dict[str, str] | None = None) -> None:
        self.calls: list[tuple[str, int | None, str | None]] = []
        self.fail = fail or {}

    async def __call__(self, person: str, rpe: int | None, verdict: str | None) -> dict:
        self.calls.append((person, rpe, verdict))
        if person in self.fail:
            raise FeedbackError(self.fail[person])
        label = {"too_hard": "too hard", "too_easy": "too easy"}.get(verdict or "")
        return {"session_id": 41, "rpe": rpe, "text": label}


# -- HTTP ---------------------------------------------------------------------------------------


def test_feedback_is_handed_to_the_recorder_and_answered_with_what_was_recorded() -> None:
    async def body() -> None:
        recorder = FakeRecorder()
        async with KioskBoard(port=0, members=["sam", "kim"], on_feedback=recorder) as board:
            status, headers, raw = await http_post(
                board.port, "/feedback", {"person": "sam", "rpe": 7}
            )
            assert status == 200 and headers["content-type"] == "application/json"
            assert headers["cache-control"] == "no-store"
            assert json.loads(raw) == {"person": "sam", "session_id": 41, "rpe": 7, "text": None}

            status, _, raw = await http_post(
                board.port,
                "/feedback",
                {"person": "kim", "rpe": 9, "verdict": "too_hard"},
                content_type="application/json; charset=utf-8",
                headers={"Origin": f"http://localhost:{board.port}"},
            )
            assert status == 200 and json.loads(raw)["text"] == "too hard"
            assert recorder.calls == [("sam", 7, None), ("kim", 9, "too_hard")]

    run(body(), timeout=TIMEOUT)


def test_a_plain_recorder_runs_off_the_boards_event_loop() -> None:
    calls = []

    def recorder(person: str, rpe: int | None, verdict: str | None) -> dict:
        calls.append((person, rpe, verdict, threading.get_ident()))
        return {"session_id": 5, "rpe": rpe, "text": "too easy"}

    async def body() -> None:
        async with KioskBoard(port=0, members=["sam"], on_feedback=recorder) as board:
            status, _, raw = await http_post(
                board.port, "/feedback", {"person": "sam", "verdict": "too_easy"}
            )
            assert status == 200 and json.loads(raw)["session_id"] == 5
        assert calls[0][:3] == ("sam", None, "too_easy")
        assert calls[0][3] != threading.get_ident()

    run(body(), timeout=TIMEOUT)


@pytest.mark.parametrize(
    "payload,reason",
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ("", "not valid JSON"),
        ('["sam", 7]', "must be a JSON object"),
        ({"rpe": 7}, "say whose session"),
        ({"person": "", "rpe": 7}, "say whose session"),
        ({"person": "alex", "rpe": 7}, "unknown member 'alex'"),
        ({"person": "sam", "rpe": 0}, "RPE must be a whole number from 1"),
        ({"person": "sam", "rpe": 11}, "RPE must be a whole number from 1"),
        ({"person": "sam", "rpe": 7.5}, "RPE must be a whole number from 1"),
        ({"person": "sam", "rpe": "7"}, "RPE must be a whole number from 1"),
        ({"person": "sam", "rpe": True}, "RPE must be a whole number from 1"),
        ({"person": "sam", "verdict": "meh"}, 'verdict must be "too_hard" or "too_easy"'),
        ({"person": "sam"}, "say how it felt"),
        ({"person": "sam", "rpe": None, "verdict": None}, "say how it felt"),
        ({"person": "sam", "rpe": 7, "note": "x"}, "unknown field 'note'"),
    ],
)
def test_bad_feedback_is_answered_400_with_a_reason(payload, reason: str) -> None:
    async def body() -> None:
        recorder = FakeRecorder()
        async with KioskBoard(port=0, members=["sam"], on_feedback=recorder) as board:
            status, headers, raw = await http_post(board.port, "/feedback", payload)
            assert status == 400 and headers["content-type"].startswith("text/plain")
            text = raw.decode()
            assert reason in text and text.endswith("\n") and text.count("\n") == 1
            assert recorder.calls == []

    run(body(), timeout=TIMEOUT)


def test_what_the_recorder_refuses_is_answered_400_with_its_reason() -> None:
    async def body() -> None:
        recorder = FakeRecorder(fail={"kim": "kim has no sessions yet:\nrecord one first"})
        async with KioskBoard(port=0, members=["kim"], on_feedback=recorder) as board:
            status, _, raw = await http_post(
                board.port, "/feedback", {"person": "kim", "verdict": "too_easy"}
            )
            assert status == 400 and raw == b"kim has no sessions yet: record one first\n"

    run(body(), timeout=TIMEOUT)


def test_without_a_recorder_feedback_is_not_available() -> None:
    async def body() -> None:
        async with KioskBoard(port=0, members=["sam"]) as board:
            status, _, raw = await http_post(board.port, "/feedback", {"person": "sam", "rpe": 5})
            assert status == 503 and raw == b"feedback is not available\n"

    run(body(), timeout=TIMEOUT)


def test_a_recorder_that_hangs_is_answered_503_and_one_that_breaks_500(monkeypatch) -> None:
    monkeypatch.setattr(kiosk_server, "FEEDBACK_TIMEOUT_S", 0.2)

    async def hangs(person, rpe, verdict):
        await asyncio.sleep(30)

    async def breaks(person, rpe, verdict):
        raise RuntimeError("disk on fire")

    async def body() -> None:
        async with KioskBoard(port=0, members=["sam"], on_feedback=hangs) as board:
            status, _, raw = await http_post(board.port, "/feedback", {"person": "sam", "rpe": 5})
            assert status == 503 and b"try again" in raw
            board.on_feedback = breaks
            status, _, raw = await http_post(board.port, "/feedback", {"person": "sam", "rpe": 5})
            assert status == 500 and b"disk on fire" not in raw

    run(body(), timeout=TIMEOUT)


def test_feedback_keeps_to_loopback_json_and_small_bodies() -> None:
    async def body() -> None:
        recorder = FakeRecorder()
        good = {"person": "sam", "verdict": "too_hard"}
        async with KioskBoard(port=0, members=["sam"], on_feedback=recorder) as board:
            port = board.port
            status, _, raw = await http_post(port, "/feedback", good, host="attacker.example")
            assert status == 421
            status, _, raw = await http_post(
                port, "/feedback", good, headers={"Origin": "http://attacker.example"}
            )
            assert status == 403 and b"own page" in raw
            status, _, _ = await http_post(port, "/feedback", good, headers={"Origin": "null"})
            assert status == 403
            status, _, raw = await http_post(port, "/feedback", good, content_type="text/plain")
            assert status == 415 and b"application/json" in raw
            status, _, raw = await http_post(port, "/feedback", good, content_type=None)
            assert status == 415
            status, _, raw = await http_post(port, "/feedback", good, length=False)
            assert status == 400 and b"Content-Length" in raw
            big = {"person": "sam", "rpe": 7, "padding": "x" * 3000}
            status, _, raw = await http_post(port, "/feedback", big)
            assert status == 413 and b"2048 bytes" in raw
            assert recorder.calls == []

            status, headers, _ = await http_get(port, "/feedback")
            assert status == 405 and headers["allow"] == "POST"
            status, headers, _ = await http_post(port, "/state.json", good)
            assert status == 405 and headers["allow"] == "GET, HEAD"
            # The rest of the board is as it was.
            assert (await http_get(port, "/state.json"))[0] == 200
            assert (await http_post(port, "/feedback", good))[0] == 200
            assert recorder.calls == [("sam", None, "too_hard")]

    run(body(), timeout=TIMEOUT)


def test_feedback_never_blocks_the_boards_event_loop() -> None:
    async def body() -> None:
        recorder = FakeRecorder()
        async with KioskBoard(port=0, members=["sam"], on_feedback=recorder) as board:
            with blockbuster_ctx():
                status, _, _ = await http_post(board.port, "/feedback", {"person": "sam", "rpe": 3})
            assert status == 200

    run(body(), timeout=TIMEOUT)


# -- the daemon's recorder, on a real store -----------------------------------------------------


def test_the_daemons_recorder_puts_feedback_on_the_current_session(tmp_path: Path) -> None:
    store = SessionStore.open(tmp_path / "edgecoach.db")
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-store")
    now = datetime.now(UTC)
    sam, kim = Profile("sam", 42, 56, 181), Profile("kim", 30, 62, 190)
    try:
        sam_before = store.start_session("sam", "simulator", sam, now - timedelta(hours=3))
        kim_latest = store.start_session("kim", "simulator", kim, now - timedelta(hours=1))
        sam_now = store.start_session("sam", "simulator", sam, now)
        session_ids = {"sam": sam_now}  # kim's session has not started yet: her latest one

        async def body() -> None:
            recorder = feedback_recorder(store, executor, session_ids)
            async with KioskBoard(
                port=0, members=["sam", "kim", "lee"], on_feedback=recorder
            ) as board:
                status, _, raw = await http_post(
                    board.port, "/feedback", {"person": "sam", "verdict": "too_hard"}
                )
                assert status == 200, raw
                assert json.loads(raw) == {
                    "person": "sam",
                    "session_id": sam_now,
                    "rpe": None,
                    "text": "too hard",
                    "signal": "too hard",
                }
                status, _, raw = await http_post(
                    board.port, "/feedback", {"person": "kim", "rpe": 2, "verdict": "too_easy"}
                )
                assert status == 200 and json.loads(raw)["session_id"] == kim_latest
                status, _, raw = await http_post(
                    board.port, "/feedback", {"person": "lee", "rpe": 5}
                )
                assert status == 400 and raw.startswith(b"lee has no sessions")

        run(body(), timeout=TIMEOUT)

        assert store.feedback(sam_before) == []
        [row] = store.feedback(sam_now)
        assert (row["rpe"], row["text"]) == (None, "too hard")  # as `--too-hard` stores it
        assert Feedback.from_store(sam_now, row).signal == "too hard"
        [row] = store.feedback(kim_latest)
        assert (row["rpe"], row["text"]) == (2, "too easy")
        assert Feedback.from_store(kim_latest, row).signal == "too easy"
        # The next `edgecoach plan` reads it as it reads the CLI's.
        inputs = load_inputs(store, Settings(profile=Profile("you")), "sam", date.today())
        assert [(f.session_id, f.signal) for f in inputs.feedback] == [(sam_now, "too hard")]
    finally:
        executor.shutdown(wait=True)
        store.close()


# -- a real browser -----------------------------------------------------------------------------


def tile(person: str, selector: str) -> str:
    return f"document.querySelector('[data-person={person}] {selector}')"


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
def test_a_member_rates_the_session_from_the_board(tmp_path: Path) -> None:
    async def body() -> None:
        recorder = FakeRecorder(fail={"lee": "lee has no sessions yet: record one first"})
        board = KioskBoard(port=0, members=["sam", "kim", "lee"], on_feedback=recorder)
        await board.start()
        browser = None
        try:
            browser = await open_gym_board(board, tmp_path, timeout=30.0)
            assert (
                await browser.evaluate(f"{tile('kim', '.feel-ask')}.textContent")
                == "How did it feel?"
            )

            await browser.evaluate(f"{tile('kim', '[data-verdict=too_hard]')}.click()")
            await browser.wait_for(
                f"{tile('kim', '.feel-status')}.textContent === 'Saved: too hard'", timeout=30.0
            )
            assert recorder.calls == [("kim", None, "too_hard")]

            await browser.evaluate(f"{tile('sam', '.feel-rpe')}.value = '7'")
            await browser.evaluate(f"{tile('sam', '.feel-send')}.click()")
            await browser.wait_for(
                f"{tile('sam', '.feel-status')}.textContent === 'Saved: RPE 7'", timeout=30.0
            )
            assert recorder.calls[-1] == ("sam", 7, None)

            await browser.evaluate(f"{tile('lee', '[data-verdict=too_easy]')}.click()")
            await browser.wait_for(
                f"{tile('lee', '.feel-status')}.textContent"
                " === 'Not saved: lee has no sessions yet: record one first'"
                f" && {tile('lee', '.feel-status')}.classList.contains('error')",
                timeout=30.0,
            )
            # The tiles still update live around the control.
            board.emit(sample("kim", 210, 152, 3))
            await browser.wait_for(f"{tile('kim', '.hr')}.textContent === '152'", timeout=30.0)
            assert (
                await browser.evaluate(f"{tile('kim', '.feel-status')}.textContent")
                == "Saved: too hard"
            )
            (tmp_path / "board-feedback.png").write_bytes(await browser.screenshot())
            assert browser.errors == []
        finally:
            if browser is not None:
                await browser.close()
            await board.stop()

    run(body(), timeout=120.0)
