"""`edgecoach fleet init|add-pi`: the gym CA, the broker's config and ACL, a certificate per Pi.

Run on the machine that keeps the gym's fleet folder (the broker's, or an integrator's laptop):
the CA key stays there. `add-pi` prints where the Pi's files are and what to do with them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from edge.errors import ConfigError
from edge.settings import Settings

NAME = "fleet"
HELP = "the gym fleet's CA, broker config and ACL, a certificate per Pi"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="fleet_action", metavar="ACTION", required=True)
    init = actions.add_parser(
        "init",
        help="make the gym CA, the broker's and the board's "
        "certificates, mosquitto.conf and the ACL",
    )
    init.add_argument("--dir", type=Path, required=True, help="the fleet folder to make")
    init.add_argument("--site", default="gym", help="the gym's name, a topic level (default gym)")
    init.add_argument(
        "--broker-address",
        action="append",
        required=True,
        metavar="IP",
        help="the broker's address on the gym network (repeat for several)",
    )
    init.add_argument("--port", type=int, default=8883, help="MQTT over TLS port (8883)")
    init.add_argument("--bind", default="", metavar="IP", help="listen on this address only")
    init.add_argument(
        "--broker-user",
        default="",
        metavar="USER",
        help="the user mosquitto runs as (default: its own, `mosquitto`)",
    )
    add = actions.add_parser("add-pi", help="a certificate for one Pi, and the ACL with it")
    add.add_argument("name", help="the Pi's name: lowercase letters, digits, dashes")
    add.add_argument("--dir", type=Path, required=True, help="the fleet folder `init` made")
    add.add_argument("--room", default="", help="the room the Pi coaches in (board groups)")
    add.add_argument("--days", type=int, default=825, help="certificate lifetime (825)")


def run(args: argparse.Namespace, settings: Settings | None) -> int:
    assert settings is not None
    from edge.fleet.pki import add_pi, init_fleet

    if args.fleet_action == "init":
        layout = init_fleet(
            args.dir,
            args.site,
            args.broker_address,
            port=args.port,
            bind_address=args.bind,
            broker_runs_as=args.broker_user,
        )
        print(f"gym CA and broker files in {layout.folder} (site {layout.site})")
        print(f"  start the broker:  mosquitto -c {layout.folder / 'mosquitto.conf'}")
        print(f"  add each Pi:       edgecoach fleet add-pi NAME --dir {layout.folder} --room ROOM")
        print(f"  keep {layout.folder / 'ca.key'} here: it makes every certificate")
        return 0
    if args.days < 1:
        raise ConfigError("--days must be 1 or more")
    folder = add_pi(args.dir, args.name, room=args.room, days=args.days)
    print(f"{args.name}: certificate, key and [fleet] settings in {folder}")
    print(
        f"  copy {folder}/{{ca.crt,{args.name}.crt,{args.name}.key}} to the Pi's "
        "/etc/edgecoach/fleet/ and add fleet.toml to its config.toml"
    )
    print("  reload the broker for the new ACL:  kill -HUP $(pidof mosquitto)")
    return 0
