"""Fixtures of the API and export tests: two advertisers, sessions with paths, calls, tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from attribution.sources import landing_page
from attribution.touch import freeze_touch
from backend.storage import SQLiteDatabase, seed

JST = ZoneInfo("Asia/Tokyo")


def jst_ms(*args: int) -> int:
    """Epoch ms of a wall-clock time in Tokyo."""
    return int(datetime(*args, tzinfo=JST).timestamp() * 1000)  # type: ignore[misc]


async def make_session(db: SQLiteDatabase, *, site_id: int, started_ms: int, **cols: Any) -> int:
    if "landing_url" in cols:  # as the ingest pipeline stores it
        cols.setdefault("landing_page", landing_page(cols["landing_url"]))
    names = ["site_id", "started_ms", "last_seen_ms", *cols]
    values = {"site_id": site_id, "started_ms": started_ms, "last_seen_ms": started_ms, **cols}
    sql = (
        f"INSERT INTO sessions ({', '.join(names)}) VALUES"
        f" ({', '.join(':' + n for n in names)}) RETURNING id"
    )
    async with db.write() as tx:
        session_id: int = await tx.fetchval(sql, values)
    return session_id


async def add_pages(db: SQLiteDatabase, session_id: int, pages: list[tuple[int, str, str]]) -> None:
    async with db.write() as tx:
        for ts, url, title in pages:
            await tx.execute(
                "INSERT INTO page_views (session_id, ts_ms, url, title) VALUES (:s, :t, :u, :ti)",
                {"s": session_id, "t": ts, "u": url, "ti": title},
            )


_call_seq = iter(range(1, 10**9))


async def make_call(
    db: SQLiteDatabase,
    *,
    advertiser_id: int,
    site_id: int,
    started_ms: int,
    session_id: int | None = None,
    caller: str = "+819012345678",
    qualified: int = 1,
    **cols: Any,
) -> int:
    values = {
        "provider": "twilio",
        "provider_call_id": f"CA{next(_call_seq):032d}",
        "advertiser_id": advertiser_id,
        "site_id": site_id,
        "tracking_number": "+815017000001",
        "caller": caller,
        "forwarded_to": "+81312345678",
        "started_ms": started_ms,
        "status": "completed",
        "duration_s": 95,
        "talk_s": 80,
        "session_id": session_id,
        "match_method": "lease" if session_id else "none",
        "match_candidates": 1 if session_id else 0,
        "qualified": qualified,
        "first_time": 1,
        "created_ms": started_ms,
        "updated_ms": started_ms,
        **cols,
    }
    sql = (
        f"INSERT INTO calls ({', '.join(values)}) VALUES"
        f" ({', '.join(':' + n for n in values)}) RETURNING id"
    )
    async with db.write() as tx:
        call_id: int = await tx.fetchval(sql, values)
        if session_id is not None:  # as telephony does when it stores the match
            await freeze_touch(tx, call_id=call_id, session_id=session_id)
    return call_id


@dataclass
class World:
    """What the API tests run against."""

    site_id: int
    advertiser_id: int
    other_site_id: int
    other_advertiser_id: int
    admin_token: str  # unscoped, may see callers
    member_token: str  # scoped to the other advertiser, may not see callers
    calls: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.admin_token}"}

    async def add_session(self, db: SQLiteDatabase, started_ms: int, **cols: Any) -> int:
        """A session on the demo site (see :func:`make_session`)."""
        return await make_session(db, site_id=self.site_id, started_ms=started_ms, **cols)

    async def add_call(self, db: SQLiteDatabase, started_ms: int, **cols: Any) -> int:
        """A call of the demo advertiser on the demo site (see :func:`make_call`)."""
        ids = {"advertiser_id": self.advertiser_id, "site_id": self.site_id}
        return await make_call(db, **ids, started_ms=started_ms, **cols)


@pytest.fixture
async def world(db: SQLiteDatabase, demo: dict[str, Any]) -> World:
    return await build_world(db, demo)


async def build_world(db: SQLiteDatabase, demo: dict[str, Any]) -> World:
    """Seed a second advertiser with a member, and calls of every kind of click."""
    site = await db.fetchone("SELECT id, advertiser_id FROM sites WHERE site_key = 'demo'")
    assert site is not None
    t = jst_ms(2026, 11, 1, 9, 0)
    member = seed.UserSpec("member@example.com", "pw-member-1", token="member")
    other = seed.TenantSpec("Other Clinic", [seed.SiteSpec("other", name="Other")], [member])
    seeded = await seed.seed_world(db, [other], at_ms=t)
    w = World(
        site_id=site["id"],
        advertiser_id=site["advertiser_id"],
        other_site_id=seeded.site("other").site_id,
        other_advertiser_id=seeded.tenant("Other Clinic").advertiser_id,
        admin_token=demo["api_token"],
        member_token=seeded.tokens["member@example.com"],
    )

    # A Google click with three pages, then a call 30 s after the last page.
    s1 = await w.add_session(
        db,
        jst_ms(2026, 11, 10, 10, 0),
        channel="paid_search",
        source="google",
        medium="cpc",
        campaign="implant",
        keyword="インプラント 東京",
        gclid="Cj0KCQ-test-gclid",
        ga_client_id="GA1.1.1234567890.1700000000",
        device="mobile",
        country="JP",
        region="Tokyo",
        city="Shinjuku",
        landing_url="https://demo.example/?gclid=Cj0KCQ-test-gclid",
    )
    await add_pages(
        db,
        s1,
        [
            (jst_ms(2026, 11, 10, 10, 0), "https://demo.example/", "Home"),
            (jst_ms(2026, 11, 10, 10, 1), "https://demo.example/implant", "インプラント"),
            (jst_ms(2026, 11, 10, 10, 2), "https://demo.example/access", "Access"),
            # After the call: not part of the path that led to it.
            (jst_ms(2026, 11, 10, 10, 30), "https://demo.example/after", "After"),
        ],
    )
    w.sessions["google"] = s1
    w.calls["google"] = await w.add_call(db, jst_ms(2026, 11, 10, 10, 2, 30), session_id=s1)
    # A Yahoo! JAPAN search click, one page, qualified call.
    s2 = await w.add_session(
        db,
        jst_ms(2026, 11, 11, 23, 50),
        channel="paid_search",
        source="yahoo",
        medium="cpc",
        keyword="歯医者 夜間",
        yclid="YSS.1000000001.EAIaIQ-test",
    )
    await add_pages(db, s2, [(jst_ms(2026, 11, 11, 23, 50), "https://demo.example/", "Home")])
    w.sessions["yahoo"] = s2
    w.calls["yahoo"] = await w.add_call(
        db,
        jst_ms(2026, 11, 12, 0, 5, 9),
        session_id=s2,
        caller="+818011112222",
    )
    # A Microsoft click and an iOS Google click (wbraid); one unqualified call.
    s3 = await w.add_session(db, jst_ms(2026, 11, 12, 8, 0), source="bing", msclkid="ms-click-1")
    w.calls["microsoft"] = await w.add_call(db, jst_ms(2026, 11, 12, 8, 1), session_id=s3)
    s4 = await w.add_session(db, jst_ms(2026, 11, 12, 9, 0), wbraid="wbraid-ios-1")
    w.calls["wbraid"] = await w.add_call(db, jst_ms(2026, 11, 12, 9, 3), session_id=s4)
    w.calls["unqualified"] = await w.add_call(
        db, jst_ms(2026, 11, 12, 9, 30), session_id=s1, qualified=0
    )
    # A call nobody can match, and one of the other advertiser.
    w.calls["unmatched"] = await w.add_call(db, jst_ms(2026, 11, 13, 12, 0), caller="anonymous")
    s5 = await make_session(
        db, site_id=w.other_site_id, started_ms=jst_ms(2026, 11, 13, 13, 0), gclid="other-gclid"
    )
    w.sessions["other"] = s5
    w.calls["other"] = await make_call(
        db,
        advertiser_id=w.other_advertiser_id,
        site_id=w.other_site_id,
        started_ms=jst_ms(2026, 11, 13, 13, 5),
        session_id=s5,
    )
    return w
