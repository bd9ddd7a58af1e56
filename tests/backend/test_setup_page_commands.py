"""The commands the set-up page tells an operator to run are ones ``callpath`` accepts."""

from __future__ import annotations

import html
import re
import shlex

import httpx
import pytest

from backend.cli import build_parser


@pytest.mark.parametrize("lang", ["en", "ja"])
async def test_the_set_up_page_names_a_command_that_runs(
    client: httpx.AsyncClient, lang: str
) -> None:
    page = await client.get("/setup", headers={"Accept-Language": lang})
    assert page.status_code == 200
    commands = [html.unescape(c) for c in re.findall(r"`(callpath [^`]+)`", page.text)]
    runnable = [c for c in commands if c != "callpath serve"]
    assert runnable, commands
    for command in runnable:
        # argparse exits (SystemExit) on a missing required option such as --email.
        args = build_parser().parse_args(shlex.split(command)[1:])
        assert args.command == "users", command
