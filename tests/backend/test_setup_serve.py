"""``callpath serve`` on an empty database prints one set-up code that every worker takes."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.e2e.test_first_run import read_setup_code
from tests.support.server import Server

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def test_the_printed_code_works_whichever_worker_answers(tmp_path: Path) -> None:
    server = Server(f"sqlite:///{tmp_path / 'callpath.db'}", args=["--workers", "2"])
    server.start(timeout=60)
    try:
        code = read_setup_code(server)
        # Each worker would refuse a code only another one kept in memory; the code's hash
        # is in the database, so a wrong guess is refused by all and the code taken by all.
        for _ in range(6):
            with httpx.Client(base_url=server.url) as browser:
                form = browser.get("/setup")
                assert form.status_code == 200
                token = CSRF.search(form.text)
                assert token
                wrong = browser.post(
                    "/setup",
                    data={
                        "csrf": token.group(1),
                        "code": "AAAA-AAAA-AAAA",
                        "email": "x@example.jp",
                        "password": "long enough",
                    },
                )
                assert wrong.status_code == 403
        with httpx.Client(base_url=server.url) as browser:
            token = CSRF.search(browser.get("/setup").text)
            assert token
            done = browser.post(
                "/setup",
                data={
                    "csrf": token.group(1),
                    "code": code,
                    "email": "owner@example.jp",
                    "password": "long enough",
                },
            )
            assert done.status_code == 303, done.text
            assert browser.get("/dashboard").status_code == 200
        # Every worker now answers 404: a user exists.
        for _ in range(6):
            assert httpx.get(server.url + "/setup").status_code == 404
    finally:
        server.stop()
