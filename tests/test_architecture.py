"""What the layering buys at run time: the device's commands never load the export stage.

`edgecoach run`, `demo`, `replay` and `ask` run in-process in a fresh interpreter, and then
`sys.modules` is read: neither torch nor anything under `export` may be in it (the export extra
is installed in the test environment, so an import would succeed and be caught here). The import
contracts themselves (layers, no cycles) are checked by `lint-imports` in `make test`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import contextlib, io, json, sys
    from edge.cli import main

    loaded = {}
    for argv in json.loads(sys.argv[1]):
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
        loaded[argv[2]] = {"code": code, "torch": "torch" in sys.modules,
                           "export": sorted(m for m in sys.modules
                                            if m == "export" or m.startswith("export."))}
    print(json.dumps(loaded))
""")


def test_the_device_commands_load_neither_torch_nor_the_export_stage(tmp_path, clean_env):
    state = tmp_path / "state"
    config = tmp_path / "config.toml"
    config.write_text(
        f"[llm]\nenabled = false\n[speech]\nenabled = false\n"
        f'[daemon]\nstate_dir = "{state}"\nsource = "simulator"\nspeed = 0\n'
        f'workout = "morning"\n'
    )
    recording = tmp_path / "run.csv"
    recording.write_text("time,hr\n" + "".join(f"{t},{110 + t % 7}\n" for t in range(90)))
    common = ["--config", str(config)]
    runs = [
        [*common, "run", "--max-runtime", "60"],
        [*common, "demo", "--json", "--speed", "0", "--mute"],
        [*common, "replay", str(recording), "--json", "--speed", "0", "--mute"],
        [*common, "ask", "How did my last run go?", "--json"],
    ]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(runs)],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(loaded) == {"run", "demo", "replay", "ask"}
    for command, seen in loaded.items():
        assert seen["code"] == 0, command
        assert not seen["torch"] and seen["export"] == [], (command, seen)
