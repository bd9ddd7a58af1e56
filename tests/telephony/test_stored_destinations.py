"""A destination stored before the checks of ``pool/destinations.py`` is still dialled.

The choice (docs/numbers.md, "Where calls may be forwarded"): a caller is always put
through, and the routing table does not second-guess stored data while a call waits; the
dashboard flags such numbers instead (tests/pool/test_destinations.py).
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest

from tests.telephony.conftest import add_source_number, call_params, post_twilio

pytestmark = pytest.mark.stores("sqlite")


async def test_a_stored_premium_destination_is_still_dialled(
    telephony: Any, tclient: httpx.AsyncClient, db: Any, demo: dict[str, Any]
) -> None:
    await add_source_number(
        db, "+81120999000", "+81990123456", site_id=1, source_label="stored before the check"
    )
    await telephony.table.load()
    r = await post_twilio(tclient, "/twilio/voice", call_params(sid="CAP1", to="+81120999000"))
    assert r.status_code == 200
    assert ET.fromstring(r.content).find("Dial").findtext("Number") == "+81990123456"
