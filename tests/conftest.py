import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: `../shared/data/workouts` beside the checkout; a worktree elsewhere names it with
#: EDGECOACH_SHARED_WORKOUTS.
SHARED_WORKOUTS = Path(
    os.environ.get("EDGECOACH_SHARED_WORKOUTS") or REPO.parent / "shared" / "data" / "workouts"
)


def edgecoach_command() -> list[str]:
    """The installed console script when there is one, else the module: both are the real CLI."""
    script = Path(sys.executable).with_name("edgecoach")
    return [str(script)] if script.exists() else [sys.executable, "-m", "edge"]


@pytest.fixture
def edgecoach():
    return edgecoach_command()


@pytest.fixture
def clean_env(tmp_path):
    """An environment with no config file and no audio device, so runs are reproducible."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EDGECOACH_", "PULSE"))}
    env["HOME"] = str(tmp_path / "home")
    env["XDG_RUNTIME_DIR"] = str(tmp_path / "run")
    return env


@pytest.fixture
def shared_workouts() -> Path:
    if not SHARED_WORKOUTS.is_dir():
        pytest.skip("../shared/data/workouts is not beside the checkout")
    return SHARED_WORKOUTS


def have(command: str) -> bool:
    return shutil.which(command) is not None


class CliResult:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """`edgecoach ARGS...` in this process (no config file found, no audio): for what a person
    sees of argument and config errors, where a subprocess would add only its start-up time."""
    from edge.cli import main

    monkeypatch.delenv("EDGECOACH_CONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exit:  # argparse's own exits (bad flags, --help)
            code = int(exit.code or 0)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run
