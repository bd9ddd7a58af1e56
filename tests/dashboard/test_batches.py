"""Conversion files in the dashboard: listed, downloaded again and voided within scope."""

from __future__ import annotations

import httpx

from attribution import batches as bt
from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded


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
