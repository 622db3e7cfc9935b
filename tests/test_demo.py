"""`edgecoach demo` end to end through the real CLI: GATT bytes, ONNX, llama.cpp, espeak-ng."""

import json
import os
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from edge.artifacts import default_models_dir
from edge.narrator.guard import split_sentences


def run_demo(edgecoach, env, *args, wrap=()):
    # A patient time limit: these tests check that the real model words cues, not how fast a
    # shared CI core is (bench/demo.py measures that).
    config = Path(env["HOME"]) / "patient.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[llm]\ntimeout_s = 60\n")
    return subprocess.run(
        [*wrap, *edgecoach, "--config", str(config), "demo", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def events_of(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    from conftest import edgecoach_command

    tmp = tmp_path_factory.mktemp("demo")
    wav = tmp / "demo.wav"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp), "XDG_RUNTIME_DIR": str(tmp)}
    if os.environ.get("PYTHONPATH"):  # a checkout on the path runs its own code, not the venv's
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    result = run_demo(edgecoach_command(), env, "--json", "--speed", "0", "--speak-to", str(wav))
    assert result.returncode == 0, result.stderr
    return events_of(result.stdout), wav


def test_demo_plays_the_whole_workout_as_one_sample_per_second(demo_run):
    events, _ = demo_run
    samples = [e for e in events if e["event"] == "sample"]
    assert [s["t"] for s in samples] == list(range(360))
    assert all(s["hr"] is not None and s["forecast"] is not None for s in samples[1:])
    assert all(s["rr"] for s in samples[5:])  # RR intervals came through the GATT bytes
    assert max(s["zone"] for s in samples) == 5 and samples[0]["zone"] == 0
    assert samples[-1]["steps"] > 500 and samples[-1]["distance"] > 500


def test_demo_cues_zone_changes_and_the_high_zone_warning(demo_run):
    events, _ = demo_run
    cues = [e for e in events if e["event"] == "cue"]
    kinds = [c["kind"] for c in cues]
    assert "zone_change" in kinds and "high_zone" in kinds
    high = next(c for c in cues if c["kind"] == "high_zone")
    assert high["action"] == "ease_off" and high["facts"]["hr"] >= high["facts"]["zone5_lower"]
    assert all(c["facts"] for c in cues)


def test_every_cue_is_worded_and_spoken(demo_run):
    events, wav = demo_run
    cues = {e["id"] for e in events if e["event"] == "cue"}
    spoken = [e for e in events if e["event"] == "spoken"]
    assert {s["cue_id"] for s in spoken} == cues
    assert all(s["text"] and s["source"] in ("llm", "template") for s in spoken)
    assert any(s["source"] == "llm" for s in spoken)  # the real GGUF worded some of them
    speech = next(e for e in events if e["event"] == "speech")
    # Model words reach speech a sentence at a time, a template in one piece. Into a file
    # nothing goes stale; words are only dropped when a newer cue of their kind waits.
    sentences = sum(
        1 if s["source"] == "template" else len(split_sentences(s["text"])) for s in spoken
    )
    assert len(spoken) <= speech["spoken"] + sum(speech["dropped"].values()) <= sentences
    assert set(speech["dropped"]) <= {"superseded"} and speech["spoken"] >= len(spoken) // 2
    with wave.open(str(wav)) as audio:
        assert audio.getnframes() / audio.getframerate() > 1.0 * speech["spoken"]
    streamed = [s for s in spoken if s["seconds_to_first_words"] is not None]
    assert streamed and all(
        s["seconds_to_first_words"] <= s["seconds_to_text"] + 0.01 for s in streamed
    )


def test_the_model_words_come_from_the_coaching_adapter(demo_run):
    """A clean checkout carries the tuned adapter (in git): the demo's model words name it."""
    from edge.narrator.llm import choose_gguf

    events, _ = demo_run
    choice = choose_gguf(default_models_dir())
    assert choice.tuned, choice.reason
    worded = [e for e in events if e["event"] == "spoken" and e["source"] == "llm"]
    assert worded and all(e["model"] for e in worded)
    if choice.lora is not None:  # (a merged export, where made, is preferred to it)
        assert {e["model"] for e in worded} == {f"{choice.lora.name} on {choice.path.name}"}
    assert all(
        e["model"] == "" for e in events if e["event"] == "spoken" and e["source"] == "template"
    )


def test_demo_ends_with_a_summary(demo_run):
    events, _ = demo_run
    summary = events[-1]
    assert summary["event"] == "summary" and summary["duration_s"] == 360
    assert summary["cues"] == len([e for e in events if e["event"] == "cue"])
    assert summary["time_in_zone_s"]["5"] > 0 and summary["forecast_checked"] > 300


def test_demo_runs_with_no_network_at_all(edgecoach, clean_env, tmp_path):
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("this machine does not allow network namespaces (needs root)")
    result = run_demo(
        edgecoach,
        clean_env,
        "--json",
        "--speed",
        "0",
        "--speak-to",
        str(tmp_path / "offline.wav"),
        wrap=("unshare", "-n"),
    )
    assert result.returncode == 0, result.stderr
    events = events_of(result.stdout)
    assert events[-1]["event"] == "summary"
    assert any(e["event"] == "spoken" and e["source"] == "llm" for e in events)


def test_demo_without_a_language_model_speaks_templates(edgecoach, clean_env, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[llm]\nmodel_path = "{tmp_path / "missing.gguf"}"\n')
    result = subprocess.run(
        [*edgecoach, "--config", str(config), "demo", "--json", "--speed", "0", "--mute"],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    spoken = [e for e in events_of(result.stdout) if e["event"] == "spoken"]
    assert spoken and all(s["source"] == "template" for s in spoken)
    assert "does not exist" in spoken[0]["reason"]
    assert "speaking from templates only" in result.stderr


def test_a_tampered_health_model_is_refused_in_one_line(edgecoach, clean_env, tmp_path):
    models = tmp_path / "models"
    shutil.copytree(default_models_dir(), models)
    onnx = models / "health_forecast.onnx"
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    clean_env["EDGECOACH_MODELS_DIR"] = str(models)
    result = run_demo(edgecoach, clean_env, "--mute", "--speed", "0")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "health_forecast.onnx" in result.stderr and "tampered" in result.stderr


def test_demo_over_ble_gives_the_same_cues_as_the_direct_path(edgecoach, clean_env):
    """`demo --ble`: the same workout through virtual bands, real bleak and a private D-Bus."""
    runs = {}
    for path, extra in (("direct", ()), ("ble", ("--ble",))):
        result = run_demo(
            edgecoach, clean_env, "--json", "--speed", "0", "--mute", "--no-llm", *extra
        )
        assert result.returncode == 0, result.stderr
        runs[path] = events_of(result.stdout)

    def cues(events):
        return [(e["t"], e["kind"]) for e in events if e["event"] == "cue"]

    ble, direct = cues(runs["ble"]), cues(runs["direct"])
    # Over BLE a reading is stamped when it arrives (20 ms per simulated second at 50x), so a
    # busy machine may move a cue by a second; the same cues must come, in the same order.
    assert [k for _, k in ble] == [k for _, k in direct] and ble
    assert all(abs(a - b) <= 2 for (a, _), (b, _) in zip(ble, direct, strict=True))
    # A last reading stamped just past 360.0 s can open one more second over BLE.
    assert sum(e["event"] == "sample" for e in runs["ble"]) in (360, 361)
    assert runs["ble"][0]["source"].startswith("virtual bands over BLE")
