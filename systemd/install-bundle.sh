#!/bin/sh
# The entry point of an edgecoach offline bundle (copied to its top as install.sh by
# `make pi-bundle`). Needs only python3; every step is in systemd/install_bundle.py:
#   sudo ./install.sh [--model NAME] [--check-only] [--list-models] [--kiosk] [--prefix DIR]
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
command -v python3 >/dev/null 2>&1 || {
    echo "install.sh: python3 is missing (Raspberry Pi OS has it; Debian: apt-get install python3 python3-venv)" >&2
    exit 1
}
exec python3 "$HERE/systemd/install_bundle.py" --bundle "$HERE" "$@"
