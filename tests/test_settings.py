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
    path.write_text('[profile]\nage = 50\nresting_hr = 55\nmax_hr = 172\n'
                    '[llm]\ntimeout_s = 3\nmodel_path = "~/m.gguf"\n[speech]\nvoice = "en-us"\n')
    settings = load_settings(path)
    assert settings.profile.age == 50 and settings.profile.max_hr == 172.0
    assert settings.llm.timeout_s == 3.0 and settings.llm.model_path == Path.home() / "m.gguf"
    assert settings.speech.voice == "en-us" and settings.source == str(path)


@pytest.mark.parametrize("text, message", [
    ("[profil]\nage = 3\n", "unknown section"),
    ("[profile]\nmax_heart = 3\n", "unknown setting.*max_heart"),
    ("[profile]\nage = 'forty'\n", "age must be int"),
    ("[llm]\nenabled = 1\n", "enabled must be bool"),
    ("[profile\n", "not valid TOML"),
])
def test_bad_config_names_the_problem(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path)
