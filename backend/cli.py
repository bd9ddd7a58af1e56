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
    _describe(sub)
    return parser


def _describe(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Give each subcommand without a description its one-line help as one, so that its
    ``--help`` says what it does (as the list one level up does), all the way down."""
    helps = {choice.dest: choice.help for choice in sub._choices_actions}
    for name, parser in sub.choices.items():
        if not parser.description and helps.get(name):
            help_text = str(helps[name])
            parser.description = help_text[:1].upper() + help_text[1:] + "."
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _describe(action)


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
