"""The address policy of user-supplied URLs (attribution/outbound.py), without HTTP."""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from attribution import outbound
from attribution.outbound import OutboundPolicy, Refused, Unreachable
from backend.app import create_app
from backend.settings import Settings
from tests.support.server import serving_asgi

REFUSED = [
    "127.0.0.1",
    "127.255.0.9",
    "10.0.0.1",
    "172.31.255.255",
    "192.168.0.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space (carrier NAT)
    "0.0.0.0",
    "224.0.0.251",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.8",
    "198.18.0.1",
    "::",
    "::1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
    "2001:db8::1",  # documentation
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450::1"]


@pytest.mark.parametrize("text", REFUSED)
def test_non_public_addresses_are_refused(text: str) -> None:
    assert outbound.refusal(ipaddress.ip_address(text)) is not None


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_pass(text: str) -> None:
    assert outbound.refusal(ipaddress.ip_address(text)) is None


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f.1", "0x7f000001", "017700000001", "0177.0.0.1", "127.1"]
)
def test_numeric_hosts_are_read_as_the_resolver_reads_them(host: str) -> None:
    assert outbound.literal_address(host) == ipaddress.IPv4Address("127.0.0.1")


@pytest.mark.parametrize("host", ["example.com", "cafe.be", "beef", "0x7f.example", "1.2.3.4.5"])
def test_names_are_not_numeric_hosts(host: str) -> None:
    assert outbound.literal_address(host) is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http:///nohost",
        "http://exa mple.com/",
        "http://[fe80::1%25eth0]/",
        "http://%31%32%37.0.0.1/",
        "http://" + "a" * 2000 + ".com/",
    ],
)
def test_urls_that_are_not_plain_http_are_refused(url: str) -> None:
    with pytest.raises(Refused):
        outbound.parse_url(url)


async def test_every_address_of_a_name_is_checked() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "::1"]

    policy = OutboundPolicy(resolve=resolve)
    with pytest.raises(Refused, match="::1 is a loopback address"):
        await outbound.check_destination("https://two-faced.example/x", policy)
    with pytest.raises(Refused, match="loopback"):
        await outbound.pin("https://two-faced.example/x", policy)


async def test_the_request_is_aimed_at_the_checked_address_with_the_original_name() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("hooks.example.com", 8443)
        return ["2606:4700:4700::1111", "1.1.1.1"]

    url, headers, extensions = await outbound.pin(
        "https://user:pw@hooks.example.com:8443/T0/secret?x=1", OutboundPolicy(resolve=resolve)
    )
    assert str(url) == "https://user:pw@[2606:4700:4700::1111]:8443/T0/secret?x=1"
    assert headers == {"host": "hooks.example.com:8443"}
    assert extensions == {"sni_hostname": "hooks.example.com"}  # TLS checks the name


async def test_a_name_that_does_not_resolve_is_worth_another_try() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    policy = OutboundPolicy(resolve=resolve)
    with pytest.raises(Unreachable):
        await outbound.pin("https://later.example/x", policy)
    # Saving it is allowed: the check that counts is the one at send time.
    await outbound.check_destination("https://later.example/x", policy)


async def test_the_operator_may_allow_their_own_receivers() -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return {"hooks.internal": ["10.0.0.7"], "other.internal": ["10.0.0.8"]}[host]

    policy = OutboundPolicy.parse(" hooks.internal , 192.168.5.0/24, ::1 ", resolve=resolve)
    assert policy.allow_hosts == frozenset({"hooks.internal"})
    await outbound.check_destination("http://hooks.internal:9000/x", policy)
    await outbound.check_destination("http://HOOKS.internal./x", policy)
    await outbound.check_destination("http://192.168.5.20/x", policy)
    await outbound.check_destination("http://[::1]:8080/x", policy)
    url, _, _ = await outbound.pin("http://hooks.internal:9000/x", policy)
    assert url.host == "10.0.0.7"
    for refused in ("http://other.internal/x", "http://192.168.6.1/", "http://127.0.0.1/"):
        with pytest.raises(Refused):
            await outbound.check_destination(refused, policy)


@pytest.mark.parametrize("bad", ["not a host!", "http://x.example/", "10.0.0.0/33"])
def test_a_mistyped_allow_list_stops_start_up(bad: str) -> None:
    with pytest.raises(ValueError):
        OutboundPolicy.parse(bad)
    with pytest.raises(ValueError):
        create_app(Settings(outbound_allow_hosts=bad))


def test_logs_show_scheme_and_host_only() -> None:
    assert outbound.redact("https://hooks.slack.com/services/T0/B0/XYZ") == (
        "https://hooks.slack.com/…"
    )
    assert outbound.redact("http://u:pw@10.0.0.1:8080/?api_secret=s") == "http://10.0.0.1:8080/…"
    assert outbound.redact("https://a.example") == "https://a.example"
    text = "Redirect for url 'https://x.example/p/SECRET?k=SECRET2' failed"
    assert outbound.scrub(text) == "Redirect for url 'https://x.example/…' failed"


def _certificate(tmp_path: Path, name: str) -> tuple[str, str]:
    """A self-signed certificate for ``name`` (Debian's openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName=DNS:{name}"),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


@contextlib.asynccontextmanager
async def _tls_receiver(cert: str, key: str, seen: list[dict[str, str]]) -> AsyncIterator[int]:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async with serving_asgi(app, ssl_certfile=cert, ssl_keyfile=key) as port:
        yield port


async def test_https_to_the_checked_address_verifies_the_name(tmp_path: Path) -> None:
    """Connected to the address it checked, the request still says the name (Host, SNI)
    and the certificate is checked against the name: pinning neither breaks https nor
    turns its check off."""
    cert, key = _certificate(tmp_path, "hooks.test")
    seen: list[dict[str, str]] = []

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    policy = OutboundPolicy.parse("hooks.test, wrong.test", resolve=resolve)
    trust = ssl.create_default_context(cafile=cert)
    async with (
        _tls_receiver(cert, key, seen) as port,
        outbound.outbound_client(verify=trust) as client,
    ):
        r = await outbound.post(
            client, f"https://hooks.test:{port}/x", policy, content=b"{}", headers={}
        )
        assert r.status_code == 204
        assert seen[0]["host"] == f"hooks.test:{port}"
        # The same server reached under another name: its certificate does not match.
        with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|match"):
            await outbound.post(
                client, f"https://wrong.test:{port}/x", policy, content=b"{}", headers={}
            )
    assert len(seen) == 1
