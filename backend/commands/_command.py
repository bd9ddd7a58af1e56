"""How a command module declares its subcommand: the name, the one-line help, and ``run``,
whose docstring is the description ``--help`` prints (so it is written once)."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from typing import TypeAlias

# A string: argparse's class is generic only to type checkers.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(
    sub: Subparsers, name: str, run: Callable[[argparse.Namespace], int], help: str
) -> argparse.ArgumentParser:
    """The subcommand ``name``, run by ``run``; add its arguments to what this returns."""
    description = inspect.cleandoc(run.__doc__) if run.__doc__ else None
    p = sub.add_parser(name, help=help, description=description)
    p.set_defaults(func=run)
    return p
