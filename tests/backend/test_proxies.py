"""``CALLPATH_TRUSTED_PROXIES``: which forwarded headers are believed, and how.

The end-to-end proof (a real nginx and a real server) is tests/hardening/test_proxy.py;
here the middleware's rules, one by one, and the settings `callpath serve` refuses.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from backend.proxies import ForwardedClient, parse_trusted_proxies
from tests.support.server import run_cli


class Echo:
    """An ASGI app answering with the client and scheme it was given."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = f"{scope['client'][0]} {scope['scheme']}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


async def _seen(trusted: str, peer: str, headers: list[tuple[str, str]]) -> list[str]:
    app = ForwardedClient(Echo(), trusted=parse_trusted_proxies(trusted))
    transport = httpx.ASGITransport(app=app, client=(peer, 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.get("/", headers=headers)
    return r.text.split()


XFF = "x-forwarded-for"


@pytest.mark.parametrize(
    ("trusted", "peer", "headers", "client"),
    [
        # Nobody trusted (the default): the peer, whatever the headers say.
        ("", "127.0.0.1", [(XFF, "203.0.113.9")], "127.0.0.1"),
        ("", "198.51.100.1", [(XFF, "203.0.113.9")], "198.51.100.1"),
        # A peer that is not the proxy cannot speak for anyone.
        ("127.0.0.1", "198.51.100.1", [(XFF, "203.0.113.9")], "198.51.100.1"),
        # The proxy's entry is the last one; what the client wrote before it is not taken.
        ("127.0.0.1", "127.0.0.1", [(XFF, "1.2.3.4, 203.0.113.9")], "203.0.113.9"),
        # Two hops of ours (a balancer in 10/8, then nginx): the rightmost that is not ours.
        (
            "127.0.0.1, 10.0.0.0/8",
            "127.0.0.1",
            [(XFF, "1.2.3.4, 203.0.113.9, 10.1.2.3")],
            "203.0.113.9",
        ),
        # Headers repeated are one list, in order.
        ("127.0.0.1", "127.0.0.1", [(XFF, "1.2.3.4"), (XFF, "203.0.113.9")], "203.0.113.9"),
        # Ports and brackets as some proxies write them; IPv4-mapped IPv6 is IPv4.
        ("127.0.0.1", "127.0.0.1", [(XFF, "203.0.113.9:5555")], "203.0.113.9"),
        ("::1", "::1", [(XFF, "[2001:db8::7]:443")], "2001:db8::7"),
        ("127.0.0.1", "::ffff:127.0.0.1", [(XFF, "::ffff:203.0.113.9")], "203.0.113.9"),
        # Junk where the proxy's entry should be: the peer stays the client.
        ("127.0.0.1", "127.0.0.1", [(XFF, "203.0.113.9, junk")], "127.0.0.1"),
        # Junk further left, behind one of ours: stop at our hop, never go past it.
        ("127.0.0.1, 10.0.0.0/8", "127.0.0.1", [(XFF, "junk, 10.1.2.3")], "10.1.2.3"),
        # A trusted proxy that names no one.
        ("127.0.0.1", "127.0.0.1", [], "127.0.0.1"),
    ],
)
async def test_the_client_is_the_peer_or_whom_a_trusted_proxy_names(
    trusted: str, peer: str, headers: list[tuple[str, str]], client: str
) -> None:
    assert (await _seen(trusted, peer, headers))[0] == client


async def test_the_scheme_is_believed_from_a_trusted_proxy_only() -> None:
    https = [("x-forwarded-proto", "https")]
    assert (await _seen("127.0.0.1", "127.0.0.1", https))[1] == "https"
    assert (await _seen("", "127.0.0.1", https))[1] == "http"
    assert (await _seen("127.0.0.1", "198.51.100.1", https))[1] == "http"
    assert (await _seen("127.0.0.1", "127.0.0.1", [("x-forwarded-proto", "gopher")]))[1] == "http"


async def test_a_forgotten_proxy_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    app = ForwardedClient(Echo(), trusted=())
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))
    with caplog.at_level(logging.WARNING, logger="callpath"):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await client.get("/")  # no header: nothing to say
            assert not caplog.records
            for n in range(3):
                await client.get("/", headers={XFF: f"203.0.113.{n}"})
    assert [r.getMessage().count("CALLPATH_TRUSTED_PROXIES") for r in caplog.records] == [1]


async def test_a_public_peer_sending_the_header_is_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="callpath"):
        await _seen("", "198.51.100.1", [(XFF, "203.0.113.9")])
    assert not caplog.records


@pytest.mark.parametrize("bad", ["*", "proxy.internal", "10.0.0.0/33", "127.0.0.1, nginx"])
def test_a_bad_entry_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="CALLPATH_TRUSTED_PROXIES"):
        parse_trusted_proxies(bad)


def test_entries_may_be_separated_by_commas_or_spaces() -> None:
    assert [str(n) for n in parse_trusted_proxies(" 127.0.0.1,10.0.0.0/8  ::1 ")] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CALLPATH_TRUSTED_PROXIES": "*"}, "anyone choose"),
        ({"FORWARDED_ALLOW_IPS": "10.0.0.0/8"}, "FORWARDED_ALLOW_IPS is no longer read"),
        ({"CALLPATH_TRUST_FORWARDED_FOR": "true"}, "CALLPATH_TRUST_FORWARDED_FOR is no longer"),
    ],
)
def test_serve_refuses_a_bad_or_retired_proxy_setting(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    r = run_cli("serve", "--port", "1", database_url=f"sqlite:///{tmp_path / 'x.db'}", **env)
    assert r.returncode != 0 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
