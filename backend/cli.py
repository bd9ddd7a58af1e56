"""The ``callpath`` command line: each subcommand lives in ``backend/commands/``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from backend.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand registered."""
    parser = argparse.ArgumentParser(prog="callpath", description="Self-hosted call tracking.")
    parser.add_argument("--config", help="TOML settings file (else CALLPATH_CONFIG)")
    parser.add_argument("--database", help="database URL (else CALLPATH_DATABASE_URL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``callpath`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        return 130
    except (ValueError, LookupError, OSError) as exc:
        print(f"callpath: {exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
