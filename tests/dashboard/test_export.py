"""The call log's download: session-to-call paths within the viewer's scope."""

from __future__ import annotations

import csv
import html
import io
import re

import httpx
import orjson

from tests.dashboard.conftest import login
from tests.dashboard.seed import CALLER_A, CALLER_B, KEYWORD_A, KEYWORD_B, PASSWORD, Seeded


def _rows(response: httpx.Response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_a_member_downloads_its_own_calls_with_their_paths(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    await login(client, seeded.member_a, PASSWORD)
    log = (await client.get("/dashboard/calls")).text
    assert "/dashboard/calls/export?" in log
    wide = await client.get("/dashboard/calls/export")
    assert wide.status_code == 200
    assert wide.headers["content-type"].startswith("text/csv")
    assert wide.headers["content-disposition"].startswith('attachment; filename="callpath-paths-')
    rows = _rows(wide)
    assert len(rows) == len(seeded.calls_a)
    assert any(r["keyword"] == KEYWORD_A for r in rows)
    # Only its own advertiser's calls, callers masked (a member may not see them).
    assert KEYWORD_B not in wide.text and CALLER_B[-4:] not in wide.text
    assert CALLER_A not in wide.text
    # A row per page view: the Google Ads visit's three pages, in order.
    long = _rows(await client.get("/dashboard/calls/export?form=long"))
    pages = [r for r in long if r["keyword"] == KEYWORD_A]
    assert [p["url"].rsplit("/", 1)[-1] for p in pages] == ["implant", "price", "access"]


async def test_an_administrator_downloads_every_advertiser_or_one(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    await login(client, seeded.admin, PASSWORD)
    everything = await client.get("/dashboard/calls/export?format=ndjson")
    assert everything.headers["content-type"].startswith("application/x-ndjson")
    lines = [orjson.loads(line) for line in everything.text.splitlines()]
    assert len(lines) == len(seeded.calls_a) + len(seeded.calls_b)
    assert any(line["caller"] == CALLER_B for line in lines)  # an administrator sees callers
    only_b = _rows(await client.get(f"/dashboard/calls/export?advertiser={seeded.adv_b}"))
    assert only_b and all(r["keyword"] != KEYWORD_A for r in only_b)
    site_a = _rows(await client.get(f"/dashboard/calls/export?site={seeded.site_a}&qualified=1"))
    assert site_a and all(r["qualified"] == "1" for r in site_a)


async def test_bad_export_choices_are_refused(client: httpx.AsyncClient, seeded: Seeded) -> None:
    await login(client, seeded.member_a, PASSWORD)
    assert (await client.get("/dashboard/calls/export?form=tall")).status_code == 400
    assert (await client.get("/dashboard/calls/export?format=xlsx")).status_code == 400
    other = await client.get(f"/dashboard/calls/export?site={seeded.site_b}")
    assert other.status_code == 404


async def test_a_drill_down_is_kept_by_its_download_and_its_date_form(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    """The call log of one keyword downloads that keyword's calls only, and changing the
    dates keeps the keyword (issue #17: both used to drop it)."""
    await login(client, seeded.member_a, PASSWORD)
    log = await client.get("/dashboard/calls", params={"by": "keyword", "value": KEYWORD_A})
    links = re.findall(r'href="(/dashboard/calls/export\?[^"]+)"', log.text)
    assert links and all("by=keyword" in link for link in links)
    rows = _rows(await client.get(html.unescape(links[0])))
    assert rows and {r["keyword"] for r in rows} == {KEYWORD_A}
    everything = _rows(await client.get("/dashboard/calls/export"))
    assert len(everything) > len(rows)
    # The date form carries the drill-down as hidden fields.
    form = log.text.split('<form method="get" class="filters">')[1].split("</form>")[0]
    assert '<input type="hidden" name="by" value="keyword">' in form
    assert f'<input type="hidden" name="value" value="{KEYWORD_A}">' in form
    # "×" clears it.
    clear = re.search(r'href="/dashboard/calls\?([^"]*)" aria-label', log.text)
    assert clear and "by=" not in clear.group(1)
    # Device comes from the session, and an over-long or unknown drill-down is a 400.
    device = await client.get("/dashboard/calls/export", params={"by": "device", "value": "x"})
    assert device.status_code == 200 and _rows(device) == []
    bad = await client.get("/dashboard/calls/export", params={"by": "keyword", "value": "k" * 501})
    assert bad.status_code == 400
