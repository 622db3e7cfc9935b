"""python -m export.bundle build | check"""

from __future__ import annotations

import logging
import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args[:1] == ["build"]:
        from export.bundle.build import main as build_main

        return build_main(args[1:])
    if args[:1] == ["check"]:
        from export.bundle.check import main as check_main

        return check_main(args[1:])
    print("usage: python -m export.bundle build [--out DIR] | check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
