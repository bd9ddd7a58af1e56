"""``callpath billing`` (issue #20): list, show, close (open disputes leave a month open
unless forced) and send statements from the command line."""

from __future__ import annotations

import asyncio
from pathlib import Path

from attribution.billing import disputes, plans
from attribution.billing.money import month_bounds
from backend.storage import open_database
from tests.support.server import demo_database, run_cli

PLAN = {"effective_from": "2025-01-01", "prices": [{"kind": "call", "price_yen": 1_234}]}


async def _seed(url: str) -> int:
    db = await open_database(url)
    try:
        site = await db.fetchone("SELECT id, advertiser_id FROM sites WHERE site_key = 'demo'")
        assert site is not None
        start, _ = month_bounds("2026-01", "Asia/Tokyo")
        async with db.write() as tx:
            await plans.add_plan(tx, plans.check_plan(PLAN, None), actor="test", now_ms=start)
            calls = []
            for i in range(2):
                at = start + (i + 1) * 86_400_000
                calls.append(
                    await tx.fetchval(
                        "INSERT INTO calls (provider, provider_call_id, advertiser_id, site_id,"
                        " tracking_number, caller, started_ms, answered_ms, status, talk_s,"
                        " created_ms, updated_ms) VALUES ('test', :p, :a, :s, '+815017000001',"
                        " :c, :t, :t, 'completed', 90, :t, :t) RETURNING id",
                        {
                            "p": f"CA{i}",
                            "a": site["advertiser_id"],
                            "s": site["id"],
                            "c": f"+8190000000{i}",
                            "t": at,
                        },
                    )
                )
            await disputes.open_dispute(
                tx, call_id=calls[1], reason="間違い電話", actor="m", now_ms=start
            )
        return int(site["advertiser_id"])
    finally:
        await db.close()


def test_billing_commands_close_show_and_send_a_month(tmp_path: Path) -> None:
    url = demo_database(tmp_path)
    advertiser = asyncio.run(_seed(url))
    listed = run_cli("billing", "statements", "2026-01", database_url=url)
    assert listed.returncode == 0, listed.stderr
    # 2 calls × 1,234 = 2,468; tax 246.8 → 246; 2,714.
    assert f"{advertiser}\tDemo Dental Clinic\topen\t2\t2468\t246\t2714" in listed.stdout
    refused = run_cli("billing", "close", "2026-01", database_url=url)
    assert refused.returncode == 1 and f"{advertiser}\tleft open:" in refused.stdout
    forced = run_cli("billing", "close", "2026-01", "--force", database_url=url)
    assert forced.returncode == 0 and f"{advertiser}\tclosed: 2714" in forced.stdout
    shown = run_cli("billing", "show", str(advertiser), "2026-01", "--csv", database_url=url)
    assert shown.returncode == 0 and "Total,2714" in shown.stdout.splitlines()
    sent = run_cli("billing", "send", str(advertiser), "2026-01", database_url=url)
    assert sent.returncode == 0, sent.stderr
    shown = run_cli("billing", "show", str(advertiser), "2026-01", database_url=url)
    assert '"status": "sent"' in shown.stdout
    bad = run_cli("billing", "show", str(advertiser), "2026-1", database_url=url)
    assert bad.returncode == 2 and "YYYY-MM" in bad.stderr and "Traceback" not in bad.stderr
    again = run_cli("billing", "send", "999999", "2026-01", database_url=url)
    assert again.returncode == 2 and "Traceback" not in again.stderr
