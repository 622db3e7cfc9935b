"""The command line as a person meets it: help, bad flags, missing models, one-line errors.

`--help` and a missing model go through the installed console script; argument and config errors
run the CLI in-process (`cli`), which is what a subprocess would run too."""

import subprocess


def run(cmd, *args, env=None, cwd=None):
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_help_lists_the_commands_one_line_each(edgecoach):
    result = run(edgecoach, "--help")
    assert result.returncode == 0
    assert "demo" in result.stdout and "export" in result.stdout
    assert "play a simulated workout" in result.stdout


def test_a_bad_flag_is_one_clear_line_and_a_non_zero_exit(cli):
    result = cli("demo", "--speed", "fast")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "invalid" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unknown_command_is_one_line(cli):
    result = cli("fly")
    assert result.returncode == 2 and "invalid choice" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_missing_health_model_is_one_line_naming_the_fix(edgecoach, clean_env, tmp_path):
    clean_env["EDGECOACH_MODELS_DIR"] = str(tmp_path / "no-models")
    result = run(edgecoach, "demo", "--mute", "--speed", "0", env=clean_env)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("edgecoach: ") and "edgecoach export health" in last


def test_a_broken_config_is_one_line(cli, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[profile]\nage = 'old'\n")
    result = cli("--config", str(config), "demo", "--mute")
    assert result.returncode == 2
    assert result.stderr.strip() == f"edgecoach: {config} [profile]: age must be int, got 'old'"
