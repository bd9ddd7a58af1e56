"""The address ``callpath serve`` prints with the set-up code is one a browser can open."""

from __future__ import annotations

import pytest

from backend import setup_codes


@pytest.mark.parametrize(
    ("public_url", "host", "port", "printed"),
    [
        # README's `callpath serve --host 0.0.0.0`: Chrome refuses http://0.0.0.0.
        ("", "0.0.0.0", 8000, "Open http://127.0.0.1:8000/setup (from another machine:"),
        ("", "::", 8000, "Open http://[::1]:8000/setup (from another machine:"),
        ("", "127.0.0.1", 8765, "Open http://127.0.0.1:8765/setup and enter"),
        ("", "::1", 8000, "Open http://[::1]:8000/setup and enter"),
        ("https://calls.example.com/", "0.0.0.0", 8000, "Open https://calls.example.com/setup and"),
    ],
)
def test_the_printed_address_opens_in_a_browser(
    public_url: str, host: str, port: int, printed: str
) -> None:
    url, elsewhere = setup_codes.address(public_url, host, port)
    text = setup_codes.announce("ABCDEFGHJKLM", url, elsewhere=elsewhere)
    assert printed in text
    assert "0.0.0.0" not in text and "http://:::" not in text
    assert "ABCD-EFGH-JKLM" in text
