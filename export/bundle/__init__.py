"""The Raspberry Pi bundle: an offline arm64 installation made on a workstation.

`build` (``make pi-bundle``) makes the tar; `check` (``make pi-check``) installs it into an
emulated arm64 Debian bookworm root with no network and compares its runs with this machine's.
The installer that runs on the Pi is ``systemd/install_bundle.py`` (standard library only).
"""
