"""Conversion files in the dashboard: listed, downloaded again and voided within scope."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import httpx
from starlette.applications import Starlette

from attribution import batches as bt
from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded, add_call_a, add_session


async def _batch(db: Store, seeded: Seeded, adv: int, call: int, name: str) -> int:
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO conversion_ledger (platform, call_id, click_id, batch, exported_ms)"
            " VALUES ('yahoo', :c, 'YSS.1-click', :b, 1)",
            {"c": call, "b": name},
        )
        return await bt.record_batch(
            tx,
            platform="yahoo",
            batch=name,
            rows=[(call, "YSS.1-click")],
            filename=f"yahoo-conversions-{name}.csv",
            media_type="text/csv; charset=utf-8",
            content=f"file of {name}\r\n".encode(),
            advertiser_id=adv,
            site_id=None,
            start_ms=0,
            end_ms=10,
            created_by="cli",
            now_ms=1_700_000_000_000,
        )


async def test_a_member_lists_downloads_and_voids_only_its_own_batches(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    mine = await _batch(db, seeded, seeded.adv_a, seeded.calls_a[0], "batch-a")
    theirs = await _batch(db, seeded, seeded.adv_b, seeded.calls_b[0], "batch-b")
    csrf = await login(client, seeded.member_a, PASSWORD)
    listing = await client.get("/dashboard/conversions/batches")
    assert listing.status_code == 200
    assert f'id="batch-{mine}"' in listing.text and f'id="batch-{theirs}"' not in listing.text
    assert f"/dashboard/conversions/batches/{mine}/void" in listing.text
    file = await client.get(f"/dashboard/conversions/batches/{mine}/file")
    assert file.status_code == 200 and file.content == b"file of batch-a\r\n"
    assert file.headers["content-type"] == "text/csv; charset=utf-8"
    other = await client.get(f"/dashboard/conversions/batches/{theirs}/file")
    assert other.status_code == 404
    refused = await client.post(
        f"/dashboard/conversions/batches/{theirs}/void", data={"csrf": csrf}
    )
    assert refused.status_code == 404
    no_csrf = await client.post(f"/dashboard/conversions/batches/{mine}/void", data={})
    assert no_csrf.status_code == 403
    done = await client.post(f"/dashboard/conversions/batches/{mine}/void", data={"csrf": csrf})
    assert done.status_code == 303
    ledger = await db.fetchall("SELECT batch FROM conversion_ledger ORDER BY batch")
    assert [r["batch"] for r in ledger] == ["batch-b", "rival-batch"]
    after = (await client.get("/dashboard/conversions/batches")).text
    assert f"/dashboard/conversions/batches/{mine}/void" not in after
    twice = await client.post(f"/dashboard/conversions/batches/{mine}/void", data={"csrf": csrf})
    assert twice.status_code == 409


async def test_an_administrator_sees_every_batch(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    a = await _batch(db, seeded, seeded.adv_a, seeded.calls_a[0], "batch-a")
    b = await _batch(db, seeded, seeded.adv_b, seeded.calls_b[0], "batch-b")
    await login(client, seeded.admin, PASSWORD)
    listing = (await client.get("/dashboard/conversions/batches")).text
    assert f'id="batch-{a}"' in listing and f'id="batch-{b}"' in listing


async def _gclid_call(db: Store, seeded: Seeded, gclid: str, **fields: Any) -> int:
    """A qualified call of A from a Google Ads click, matched now."""
    now = int(time.time() * 1000)
    async with db.write() as tx:
        session = await add_session(
            tx, seeded.site_a, now - 120_000, source="google", gclid=gclid, channel="paid_search"
        )
        return await add_call_a(
            tx,
            seeded,
            caller="+819055550000",
            started_ms=now - 60_000,
            session_id=session,
            qualified=1,
            **fields,
        )


async def test_a_button_per_platform_makes_a_file_of_the_calls_not_sent_yet(
    client: httpx.AsyncClient, seeded: Seeded, db: Store, app: Starlette
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    page = await client.get("/dashboard/conversions/batches")
    for key in ("google", "yahoo", "microsoft"):
        assert f'id="new-batch-{key}"' in page.text
    assert 'name="advertiser"' not in page.text  # a member makes files of its own calls
    no_csrf = await client.post("/dashboard/conversions/batches/new", data={"platform": "google"})
    assert no_csrf.status_code == 403
    assert (
        await db.fetchval("SELECT COUNT(*) FROM conversion_ledger WHERE platform = 'google'") == 1
    )

    first = await client.post(
        "/dashboard/conversions/batches/new", data={"csrf": csrf, "platform": "google"}
    )
    assert first.status_code == 200, first.text
    assert first.headers["content-disposition"].startswith('attachment; filename="google-')
    assert "Cj0KCQiA-test-gclid" in first.text and "Cj0-rival" not in first.text
    sent = int(first.headers["x-callpath-conversions"])
    assert sent >= 1
    batch = (await bt.list_batches(db, scope=seeded.adv_a))[0]
    assert batch.platform == "google" and batch.rows == sent
    assert batch.advertiser_id == seeded.adv_a and batch.created_by.endswith("(dashboard)")
    kept = await bt.batch_file(db, batch.id, scope=seeded.adv_a)
    assert kept is not None and kept.content == first.content

    # Again: nothing new, nothing recorded.
    again = await client.post(
        "/dashboard/conversions/batches/new", data={"csrf": csrf, "platform": "google"}
    )
    assert again.headers["x-callpath-conversions"] == "0"
    assert "Cj0KCQiA-test-gclid" not in again.text
    assert len(await bt.list_batches(db, scope=seeded.adv_a)) == 1

    # A new call: only it. One matched below the server's minimum confidence stays out.
    await _gclid_call(db, seeded, "Cj0-new-click", match_confidence="high")
    await _gclid_call(db, seeded, "Cj0-low-click", match_confidence="medium")
    app.state.settings = replace(app.state.settings, upload_min_confidence="high")
    third = await client.post(
        "/dashboard/conversions/batches/new", data={"csrf": csrf, "platform": "google"}
    )
    assert third.headers["x-callpath-conversions"] == "1"
    assert "Cj0-new-click" in third.text and "Cj0-low-click" not in third.text

    # Another advertiser's calls, an unknown platform: not found, nothing written.
    ledger = await db.fetchall("SELECT * FROM conversion_ledger ORDER BY id")
    theirs = await client.post(
        "/dashboard/conversions/batches/new",
        data={"csrf": csrf, "platform": "google", "advertiser": str(seeded.adv_b)},
    )
    assert theirs.status_code == 404
    unknown = await client.post(
        "/dashboard/conversions/batches/new", data={"csrf": csrf, "platform": "meta"}
    )
    assert unknown.status_code == 404
    assert await db.fetchall("SELECT * FROM conversion_ledger ORDER BY id") == ledger


async def test_an_administrator_chooses_the_advertiser_and_other_roles_may_not_send(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    csrf = await login(client, seeded.admin, PASSWORD)
    page = await client.get("/dashboard/conversions/batches")
    assert 'name="advertiser"' in page.text
    for platform in ("google", "yahoo"):
        made = await client.post(
            "/dashboard/conversions/batches/new",
            data={"csrf": csrf, "platform": platform, "advertiser": str(seeded.adv_a)},
        )
        assert made.status_code == 200
    # Yahoo! JAPAN's file is Shift_JIS (here empty: A's Yahoo! call is not qualified).
    assert made.headers["content-type"] == "text/csv; charset=shift_jis"
    assert made.headers["x-callpath-conversions"] == "0"
    (batch,) = await bt.list_batches(db, scope=seeded.adv_a)
    assert batch.advertiser_id == seeded.adv_a and batch.platform == "google"
    # A role that may only read (none is built in yet) gets no button and a 403.
    await db.execute("UPDATE users SET role = 'viewer' WHERE email = :e", {"e": seeded.admin})
    page = await client.get("/dashboard/conversions/batches")
    assert page.status_code == 200 and "new-batch-google" not in page.text
    refused = await client.post(
        "/dashboard/conversions/batches/new", data={"csrf": csrf, "platform": "google"}
    )
    assert refused.status_code == 403
    assert len(await bt.list_batches(db, scope=None)) == 2  # B's seeded batch and A's
