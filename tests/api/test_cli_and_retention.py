"""``callpath export`` / ``callpath purge`` as a user runs them, and the retention purge."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest

from backend import accounts
from backend.api.retention import purge
from backend.settings import Settings
from backend.storage import SQLiteDatabase
from tests.api.conftest import World, jst_ms, make_session
from tests.support.server import run_cli


@pytest.mark.stores("sqlite")  # the CLI runs the same domain code the store tests cover
async def test_cli_exports_paths_and_conversions(
    db: SQLiteDatabase, world: World, settings: Settings, tmp_path: Path
) -> None:
    url = settings.database_url
    r = run_cli("export", "paths", "--from", "2026-11-01", "--to", "2026-11-30", database_url=url)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 7 and all("*" in x["caller"] for x in rows if x["caller"] != "anonymous")
    out = tmp_path / "yahoo.csv"
    r = run_cli(
        "export",
        "yahoo",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "-o",
        str(out),
        database_url=url,
    )
    assert r.returncode == 0, r.stderr
    assert "exported 1 conversions" in r.stderr
    assert out.read_bytes().decode("cp932").startswith("YCLID,コンバージョン名,")
    r2 = run_cli("export", "yahoo", "--from", "2026-11-01", "-o", str(out), database_url=url)
    assert "exported 0 conversions" in r2.stderr
    bad = run_cli("export", "paths", "--site", "nope", database_url=url)
    assert bad.returncode == 2 and "no site" in bad.stderr
    r = run_cli("purge", "--days", "3650", database_url=url)
    assert r.returncode == 0 and "purged 0 sessions" in r.stdout


async def test_purge_deletes_old_sessions_and_unlinks_calls(
    db: SQLiteDatabase, world: World, settings: Settings
) -> None:
    now = jst_ms(2026, 11, 12, 12, 0)
    pool_id = await db.fetchval("SELECT id FROM pools ORDER BY id LIMIT 1")
    await db.execute(
        "INSERT INTO pool_exhaustions (pool_id, session_id, ts_ms, outcome)"
        " VALUES (:p, :s, :t, 'overflow')",
        {"p": pool_id, "s": world.sessions["google"], "t": now - 3 * 86_400_000},
    )
    # Retention of one day at noon on 12 Nov: sessions last seen before noon on 11 Nov go.
    result = await purge(db, 1, now=now)
    assert result is not None and result.sessions == 1 and result.page_views == 4
    assert result.calls_unlinked == 2  # the Google call and the later call of that session
    call = await db.fetchone(
        "SELECT session_id, caller, touch_gclid, touch_landing_url, touch_source, touch_ms"
        " FROM calls WHERE id = :c",
        {"c": world.calls["google"]},
    )
    # The call itself stays; the touch frozen on it (click ids, landing URL) goes with the visit.
    assert call == {
        "session_id": None,
        "caller": "+819012345678",
        "touch_gclid": "",
        "touch_landing_url": "",
        "touch_source": "",
        "touch_ms": None,
    }
    assert (
        await db.fetchval(
            "SELECT COUNT(*) FROM sessions WHERE id = :s", {"s": world.sessions["google"]}
        )
        == 0
    )
    assert (
        await db.fetchval(
            "SELECT COUNT(*) FROM sessions WHERE id = :s", {"s": world.sessions["yahoo"]}
        )
        == 1
    )
    assert await db.fetchval("SELECT session_id FROM pool_exhaustions") is None
    assert await purge(db, 0, now=now) is None  # 0 keeps everything
    again = await purge(db, 1, now=now)
    assert again is not None and again.sessions == 0


async def test_the_server_purges_on_its_own(settings: Settings) -> None:
    from backend import create_app
    from pool.store import now_ms

    app = create_app(settings.replace(retention_days=30, retention_interval_seconds=1))
    async with app.router.lifespan_context(app):
        db = app.state.db
        async with db.write() as tx:
            adv = await accounts.create_advertiser(tx, "A", 0)
            site = await accounts.create_site(
                tx, advertiser_id=adv, site_key="s", name="S", domains=[], now_ms=0
            )
        old = await make_session(db, site_id=site, started_ms=now_ms() - 40 * 86_400_000)
        fresh = await make_session(db, site_id=site, started_ms=now_ms())
        for _ in range(100):  # the job runs every second; wait for it, up to ten seconds
            if not await db.fetchval("SELECT COUNT(*) FROM sessions WHERE id = :s", {"s": old}):
                break
            await asyncio.sleep(0.1)
        remaining = await db.fetchall("SELECT id FROM sessions ORDER BY id")
    assert [r["id"] for r in remaining] == [fresh]


def test_progress_bar_on_stderr() -> None:
    from backend.commands.export import Progress, day_ms

    out = io.StringIO()
    bar = Progress(200, out)
    bar(50)
    bar(200, final=True)
    assert out.getvalue().startswith("\r[#######")
    assert out.getvalue().endswith("100% 200/200 calls\n")
    assert day_ms("2026-11-12", "Asia/Tokyo", end=False) == jst_ms(2026, 11, 12)
    assert day_ms("2026-11-12", "Asia/Tokyo", end=True) == jst_ms(2026, 11, 13)


async def test_the_server_ends_expired_leases_on_its_own(settings: Settings) -> None:
    """A quiet pool's expired lease ends, and its retiring number retires, without a claim."""
    from backend import create_app
    from pool import leases, numbers
    from pool.store import now_ms
    from tests.pool.helpers import make_pool_site, new_sessions

    app = create_app(settings.replace(lease_sweep_seconds=1))
    async with app.router.lifespan_context(app):
        db = app.state.db
        t = now_ms()
        ps = await make_pool_site(
            db, size=1, ttl_ms=numbers.MIN_TTL_MS, grace_ms=0, cooldown_ms=0, overflow=False
        )
        pool, number = ps.pool_id, ps.number_ids[0]
        (session,) = await new_sessions(db, ps.site_id, 1)
        # Leased so long ago that its ttl ends a second and a half from now; retired while
        # still held, the number waits for the lease to end.
        leased_at = t - numbers.MIN_TTL_MS + 1_500
        assert await leases.acquire(db, pool_id=pool, session_id=session, now_ms=leased_at)
        assert await numbers.retire_number(db, number_id=number, now_ms=t) == "retiring"
        for _ in range(100):  # the sweep runs every second; wait for it, up to ten seconds
            if await db.fetchval("SELECT status FROM tracking_numbers") == "retired":
                break
            await asyncio.sleep(0.1)
        ended = await db.fetchval("SELECT ended_ms FROM leases")
        status = await db.fetchval("SELECT status FROM tracking_numbers")
    assert ended == leased_at + numbers.MIN_TTL_MS
    assert status == "retired"
