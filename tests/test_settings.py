from pathlib import Path

import pytest

from edge.errors import ConfigError
from edge.settings import Settings, load_settings


def test_no_file_means_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGECOACH_CONFIG", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()
    assert Settings().llm.enabled and Settings().profile.effective_max_hr == pytest.approx(180)


def test_values_are_read_and_typed(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        "[profile]\nage = 50\nresting_hr = 55\nmax_hr = 172\n"
        '[llm]\ntimeout_s = 3\nmodel_path = "~/m.gguf"\n[speech]\nvoice = "en-us"\n'
    )
    settings = load_settings(path)
    assert settings.profile.age == 50 and settings.profile.max_hr == 172.0
    assert settings.llm.timeout_s == 3.0 and settings.llm.model_path == Path.home() / "m.gguf"
    assert settings.speech.voice == "en-us" and settings.source == str(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[profil]\nage = 3\n", "unknown section"),
        ("[profile]\nmax_heart = 3\n", "unknown setting.*max_heart"),
        ("[profile]\nage = 'forty'\n", "age must be int"),
        ("[llm]\nenabled = 1\n", "enabled must be bool"),
        ("[profile\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_problem(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


def test_daemon_sources_and_their_settings(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "sam.fit").write_bytes(b"")
    path = tmp_path / "config.toml"
    path.write_text(
        '[daemon]\nsource = "replay"\nspeed = 5\nworkout = "climb"\n'
        "virtual_link_losses = [[250, 20], [300, 5.5]]\n"
        '[[people]]\nname = "sam"\nreplay_file = "runs/sam.fit"\nworkout = "demo"\n'
    )
    settings = load_settings(path)
    assert settings.daemon.source == "replay" and settings.daemon.workout == "climb"
    assert settings.daemon.virtual_link_losses == ((250.0, 20.0), (300.0, 5.5))
    (sam,) = settings.people
    assert sam.replay_file == tmp_path / "runs" / "sam.fit" and sam.workout == "demo"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '[daemon]\nsource = "replay"\n',
            (
                r'source "replay" needs a recording for you: set '
                r"replay_file \(a FIT, TCX, GPX or CSV file\) in "
                r"\[daemon\]$"
            ),
        ),
        (
            '[daemon]\nsource = "replay"\nreplay_file = "gone.fit"\n',
            r"\[daemon\]: replay_file .*gone.fit does not exist; record a session",
        ),
        (
            '[daemon]\nsource = "replay"\nreplay_file = "notes.txt"\n',
            "notes.txt is not a recording edgecoach reads; give a FIT, TCX, GPX, CSV file",
        ),
        (
            '[daemon]\nsource = "replay"\n[[people]]\nname = "kim"\nreplay_file = "kim.tcx"\n',
            r"\[\[people\]\] kim: replay_file .*kim.tcx does not exist",
        ),
        ('[daemon]\nworkout = "marathon"\n', "workout must be one of demo, climb"),
        (
            '[[people]]\nname = "kim"\nworkout = "x"\n',
            r"\[\[people\]\] kim: workout must be one of",
        ),
        ("[daemon]\nvirtual_link_losses = [[250]]\n", r"virtual_link_losses must be \[\[second"),
        ('[[people]]\nname = "kim"\nreplay_file = 3\n', "replay_file must be a non-empty string"),
    ],
)
def test_daemon_source_errors_say_what_to_do(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)


def test_a_replay_file_is_only_checked_when_replaying(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[daemon]\nsource = "ble"\nreplay_file = "gone.fit"\n')
    assert load_settings(path).daemon.replay_file == tmp_path / "gone.fit"
