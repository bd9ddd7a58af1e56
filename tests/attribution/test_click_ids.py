"""Click ids are kept only when they have the platform's shape; the others are counted.

A click id goes into the ad platforms' upload files as is: one that Shift_JIS cannot
encode broke the Yahoo! JAPAN file (a 500 for every range holding the call), and one
starting with ``=`` was a formula in the Google and Microsoft files.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from attribution.ingest import drop_counts
from attribution.sources import CLICK_IDS, classify, valid_click_id
from pool.store import Store

GOOD = {
    "gclid": "Cj0KCQjw9Jn-BRCXARIsAJrO-5hNv_yx8mZ1aB0Hc4r2iF_kY7aJjWmYTGpDdmhRq9EALw_wcB",
    "gbraid": "0AAAAAoY-qT1xIabc-def_GHI",
    "wbraid": "CkEKCQjw0Jn-BRCZARIsAJ_ZyxW",
    "yclid": "YSS.1000012345.EAIaIQobChMI0-aB_cD",
    "fbclid": "IwAR2xJ-bq7lcLZg9NhFEh_0yTOo8aRG5Vs1KpT3d",
    "msclkid": "0f7bd6c2b8e11d2a3c4b5d6e7f8a9b0c",
}
BAD = [
    "=1+cmd|/C calc!A0",
    "+cmd",
    "@SUM(A1)",
    "-2+3",
    "-abc",
    "_abc",
    ".abc",
    "YSS.電話",
    "YSS.\U0001f600",
    "a b",
    "a/b",
    "<script>",
    "x" * 257,
]


@pytest.mark.parametrize("name", CLICK_IDS)
def test_a_click_id_of_the_platform_shape_is_kept(name: str) -> None:
    source = classify("https://shop.example/?" + urlencode({name: GOOD[name]}))
    assert getattr(source, name) == GOOD[name]
    assert source.invalid_click_ids == ()
    assert valid_click_id("x" * 256)


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("name", CLICK_IDS)
def test_a_click_id_of_another_shape_is_not_kept(name: str, bad: str) -> None:
    source = classify("https://shop.example/?" + urlencode({name: bad, "utm_source": "x"}))
    assert getattr(source, name) == ""
    assert source.invalid_click_ids == (name,)
    assert not valid_click_id(bad)
    # The rest of the visit is classified as if the click id had not been sent.
    assert source.source == "x"
    assert name not in source.as_touch(1)


def test_an_invalid_click_id_does_not_make_a_paid_visit() -> None:
    source = classify("https://shop.example/?gclid=%3D1%2Bcmd")
    assert source.channel == "direct" and source.gclid == ""


async def test_the_visit_is_kept_and_the_bad_click_ids_counted(
    client: httpx.AsyncClient, db: Store, demo: Any
) -> None:
    query = urlencode({"gclid": "=1+cmd|/C calc!A0", "yclid": "YSS.\U0001f600", "fbclid": "ok"})
    body = {"site": "demo", "url": f"http://127.0.0.1/examples/?{query}"}
    r = await client.post("/v1/session", json=body)
    assert r.status_code == 200 and r.json()["swaps"]  # a number, as for any visit
    row = await db.fetchone("SELECT gclid, yclid, fbclid, first_touch FROM sessions")
    assert row is not None
    assert (row["gclid"], row["yclid"], row["fbclid"]) == ("", "", "ok")
    assert '"gclid"' not in row["first_touch"] and '"yclid"' not in row["first_touch"]
    assert (await drop_counts(db)) == {"click_id_invalid": 2}
