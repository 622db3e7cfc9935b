#!/bin/sh
# Remove what systemd/install.sh installed.
#
#   sudo systemd/uninstall.sh                 # units, venv, config; the data stays
#   sudo systemd/uninstall.sh --purge-data    # also the data, the key, the caches, the users
#   DESTDIR=/tmp/root systemd/uninstall.sh    # the same inside a staged tree
#
# Kept unless --purge-data: /var/lib/edgecoach (the workout database) and /etc/edgecoach/db.key
# (without the key that data cannot be read), and the users edgecoach and edgecoach-kiosk (they
# own the data). Always removed: both units, PREFIX/venv and PREFIX/share/doc/edgecoach,
# /etc/edgecoach/config.toml and /var/cache/edgecoach.
set -eu

usage() {
    cat <<'EOF'
usage: uninstall.sh [--prefix DIR] [--purge-data] [--dry-run]

  --prefix DIR    what install.sh was given (default /opt/edgecoach; also $PREFIX)
  --purge-data    also remove /var/lib/edgecoach (the data), /etc/edgecoach/db.key, the
                  kiosk's state and the users edgecoach and edgecoach-kiosk
  --dry-run       print every step, change nothing
environment: DESTDIR (work inside this root; no userdel, no systemctl)
EOF
}

PREFIX=${PREFIX:-/opt/edgecoach}
DESTDIR=${DESTDIR:-}
PURGE=no
DRY_RUN=no
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
        --purge-data) PURGE=yes; shift ;;
        --dry-run) DRY_RUN=yes; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "uninstall.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

die() { echo "uninstall.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }
run() {
    echo "+ $*"
    [ "$DRY_RUN" = yes ] || "$@"
}
host() {
    if [ -n "$DESTDIR" ]; then
        echo "+ $* (not run: DESTDIR is set)"
    elif [ "$DRY_RUN" = yes ]; then
        echo "+ $* (not run: dry run)"
    else
        echo "+ $*"
        "$@"
    fi
}
# remove PATH...: rm -rf each one that exists, saying so
remove() {
    for path in "$@"; do
        if [ -e "$path" ] || [ -L "$path" ]; then
            run rm -rf -- "$path"
        fi
    done
}

case "$PREFIX" in
    /*) ;;
    *) die "--prefix must be an absolute path, got '$PREFIX'" ;;
esac
case "$PREFIX" in
    /|/usr|/usr/local|/etc|/var|/opt|/home) die "refusing --prefix $PREFIX" ;;
esac
if [ -z "$DESTDIR" ] && [ "$DRY_RUN" = no ] && [ "$(id -u)" != 0 ]; then
    die "run as root (sudo), or use DESTDIR=DIR, or see --dry-run"
fi
ROOT=$DESTDIR
UNITS="edgecoach-kiosk.service edgecoach.service"

say "stopping and disabling the units"
if [ -n "$DESTDIR" ]; then
    echo "    DESTDIR is set: not running systemctl disable --now $UNITS"
elif ! command -v systemctl >/dev/null 2>&1; then
    echo "    no systemctl here"
elif [ -d /run/systemd/system ]; then
    for unit in $UNITS; do
        host systemctl disable --now "$unit" || echo "    ($unit was not installed)"
    done
else
    for unit in $UNITS; do
        host systemctl disable "$unit" || echo "    ($unit was not installed)"
    done
fi

say "units, venv, documentation, configuration, cache"
for unit in $UNITS; do
    remove "$ROOT/etc/systemd/system/$unit"
done
if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    host systemctl daemon-reload
fi
remove "$ROOT$PREFIX/venv" "$ROOT$PREFIX/share/doc/edgecoach"
for dir in "$ROOT$PREFIX/share/doc" "$ROOT$PREFIX/share" "$ROOT$PREFIX"; do
    if [ -d "$dir" ] && [ -z "$(ls -A "$dir")" ]; then
        run rmdir "$dir"
    fi
done
remove "$ROOT/etc/edgecoach/config.toml" "$ROOT/etc/edgecoach/config.toml.new" \
    "$ROOT/var/cache/edgecoach"

if [ "$PURGE" = yes ]; then
    say "purging the data, the key and the users"
    remove "$ROOT/var/lib/edgecoach" "$ROOT/var/lib/edgecoach-kiosk" "$ROOT/etc/edgecoach"
    for user in edgecoach-kiosk edgecoach; do
        if getent passwd "$user" >/dev/null 2>&1; then
            host userdel "$user"
        fi
        if getent group "$user" >/dev/null 2>&1; then
            host groupdel "$user"
        fi
    done
else
    echo "    kept: $ROOT/var/lib/edgecoach (the data) and $ROOT/etc/edgecoach/db.key (its key);"
    echo "    --purge-data removes them and the users edgecoach and edgecoach-kiosk"
    if [ -d "$ROOT/etc/edgecoach" ] && [ -z "$(ls -A "$ROOT/etc/edgecoach")" ]; then
        run rmdir "$ROOT/etc/edgecoach"
    fi
fi
say "done"
