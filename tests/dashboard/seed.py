"""Seed data for the dashboard tests, written inside one unit of work.

The rival advertiser's site, pool and number come from the shared factory
(``backend/storage/seed.py``); visits, calls and the rest are plain SQL rows.

Used by the in-process tests (on SQLite and PostgreSQL) and by the browser tests (into the
server's SQLite file before it starts), so both see the same advertisers, visits and calls.
:func:`add_call_now` writes one call with sqlite3 into a running server's file.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from attribution import transcripts
from attribution.sources import landing_page
from attribution.touch import COPY_FROM_SESSIONS, freeze_touch
from backend import accounts
from backend.auth import hash_password
from backend.storage import seed as factory
from pool.store import Store, Tx

PASSWORD = "correct-horse-42"
KEYWORD_A = "インプラント 費用"
KEYWORD_B = "rival-secret-keyword"
CALLER_A = "+819012345678"
CALLER_B = "+819099998888"
RESERVATION_B = "+815099990077"  # B's reservation number
DAY = 86_400_000


@dataclass
class Seeded:
    """Ids of what was seeded."""

    path: Path = Path()  # the SQLite file, for browser tests that write beside the server
    adv_a: int = 0
    adv_b: int = 0
    site_a: int = 0
    site_b: int = 0
    pool_b: int = 0
    target_b: int = 0  # the business number of B's pool (its call flow)
    target_a: int = 0  # A's first business number, with a call flow of every step type
    number_a: int = 0
    number_b: int = 0
    tracking_a: str = ""
    member_a: str = "member-a@example.com"
    member_b: str = "member-b@example.com"
    admin: str = "root@example.com"
    calls_a: list[int] = field(default_factory=list)
    calls_b: list[int] = field(default_factory=list)
    session_a: int = 0
    token_b: int = 0
    user_b: int = 0
    rule_b: int = 0
    transcript_rule_b: int = 0  # a transcript rule of B (issue #22)
    blocked_b: int = 0
    code_b: int = 0  # a fixed code on B's number
    notify_b: int = 0
    batch_b: int = 0  # a recorded conversion file of B
    action_b: int = 0  # a conversion action of B's site
    feed_b: int = 0  # a feed URL of that action
    dispute_b: int = 0  # B's dispute of its call (billing)
    reservation_b: int = 0  # a reserved call of B (on B's reservation number)


def _insert_sql(table: str, values: dict[str, Any]) -> str:
    cols = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    return f"INSERT INTO {table} ({cols}) VALUES ({marks}) RETURNING id"


async def _insert(conn: Tx, table: str, **values: Any) -> int:
    return int(await conn.fetchval(_insert_sql(table, values), values))


# A's call flow: one step of every type (the flow page shows a form for each).
FLOW_A = {
    "start": "hours",
    "steps": {
        "hours": {
            "type": "schedule",
            "hours": {"mon": [["09:00", "12:30"], ["14:00", "19:00"]]},
            "open": "main",
            "closed": "closed",
        },
        "main": {
            "type": "menu",
            "prompt": {"say": "営業は1を、サポートは2を押してください。"},
            "choices": {"1": "sales", "2": "line"},
            "default": "line",
        },
        "sales": {"type": "ring", "mode": "sequential", "destinations": ["+819011110001"]},
        "line": {"type": "queue", "destinations": ["+819011110002"], "no_answer": "vm"},
        "closed": {"type": "message", "prompt": {"say": "本日は終了しました。"}, "next": "vm"},
        "vm": {"type": "voicemail", "prompt": {"say": "発信音の後にどうぞ。"}, "next": "bye"},
        "bye": {"type": "hangup"},
    },
}


async def _flow_journey(conn: Tx, s: Seeded, call_id: int, at: int) -> None:
    """A call that went through a call flow: a menu, a busy phone, a queue, an answer."""
    steps = [
        ("", "start", "", "1", None),
        ("main", "menu", "", "2", None),
        ("sales", "ring", "+819011110001", "", None),
        ("sales", "busy", "+819011110001", "", None),
        ("line", "queue", "", "", None),
        ("line", "queue_left", "", "answered", 42),
        ("line", "answered", "+819011110002", "", None),
    ]
    for n, (step, what, dest, detail, wait) in enumerate(steps):
        await conn.execute(
            "INSERT INTO call_journey (call_id, ts_ms, step, what, destination, detail, wait_s)"
            " VALUES (:c, :t, :s, :w, :d, :detail, :wait)",
            {
                "c": call_id,
                "t": at + n * 1000,
                "s": step,
                "w": what,
                "d": dest,
                "detail": detail,
                "wait": wait,
            },
        )
    await conn.execute(
        "UPDATE calls SET flow_version = 1, menu_path = 'main:2', answered_by = :a,"
        " queue_wait_s = 42, status = 'answered',"
        " forwarded_to = (SELECT number FROM targets WHERE id = :t) WHERE id = :c",
        {"a": "+819011110002", "t": s.target_a, "c": call_id},
    )


async def add_session(conn: Tx, site_id: int, started_ms: int, **fields: Any) -> int:
    """A visitor session with its attribution columns (the landing page derived from the
    landing URL, as the ingest pipeline stores it)."""
    if "landing_url" in fields:
        fields.setdefault("landing_page", landing_page(fields["landing_url"]))
    return await _insert(
        conn, "sessions", site_id=site_id, started_ms=started_ms, last_seen_ms=started_ms, **fields
    )


async def add_view(conn: Tx, session_id: int, ts_ms: int, url: str, title: str) -> None:
    """A page view of a session."""
    await _insert(conn, "page_views", session_id=session_id, ts_ms=ts_ms, url=url, title=title)


def _call_values(
    *,
    advertiser_id: int,
    site_id: int,
    number_id: int,
    tracking_number: str,
    caller: str,
    started_ms: int,
    session_id: int | None = None,
    **fields: Any,
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "provider": "test",
        "provider_call_id": f"CA{time.time_ns()}",
        "advertiser_id": advertiser_id,
        "site_id": site_id,
        "number_id": number_id,
        "tracking_number": tracking_number,
        "caller": caller,
        "started_ms": started_ms,
        "answered_ms": started_ms + 5_000,
        "ended_ms": started_ms + 125_000,
        "status": "completed",
        "duration_s": 125,
        "talk_s": 120,
        "session_id": session_id,
        "match_method": "lease" if session_id else "none",
        "match_candidates": 1 if session_id else 0,
        "created_ms": started_ms,
        "updated_ms": started_ms,
    }
    values.update(fields)
    return values


async def add_call(conn: Tx, **fields: Any) -> int:
    """A call row as telephony writes it (its session's touch frozen on it)."""
    values = _call_values(**fields)
    call_id = await _insert(conn, "calls", **values)
    if values["session_id"] is not None:
        await freeze_touch(conn, call_id=call_id, session_id=values["session_id"])
    return call_id


async def add_call_a(conn: Tx, s: Seeded, **fields: Any) -> int:
    """A call to advertiser A's tracking number (the rest as for :func:`add_call`)."""
    ids = {"advertiser_id": s.adv_a, "site_id": s.site_a, "number_id": s.number_a}
    return await add_call(conn, **ids, tracking_number=s.tracking_a, **fields)


def add_call_now(path: Path, **fields: Any) -> int:
    """Write one call into a running server's SQLite file (sqlite3, its own transaction)."""
    values = _call_values(**fields)
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        call_id = int(conn.execute(_insert_sql("calls", values), values).fetchone()[0])
        # The session's touch frozen on the call, as telephony does (sqlite3, no loop).
        conn.execute(COPY_FROM_SESSIONS + " AND id = :id", {"id": call_id})
        return call_id
    finally:
        conn.close()


def ring_now(s: Seeded, caller: str) -> int:
    """A call from ``caller`` ringing now on advertiser A's tracking number, written into the
    running server's SQLite file (the live screen's stream picks it up)."""
    return add_call_now(
        s.path,
        advertiser_id=s.adv_a,
        site_id=s.site_a,
        number_id=s.number_a,
        tracking_number=s.tracking_a,
        caller=caller,
        started_ms=int(time.time() * 1000),
        status="ringing",
        talk_s=0,
    )


def update_call_now(path: Path, call_id: int, **fields: Any) -> None:
    """Change a call in a running server's SQLite file, as a status callback would."""
    sets = ", ".join(f"{k} = :{k}" for k in fields)
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        conn.execute(f"UPDATE calls SET {sets} WHERE id = :id", {**fields, "id": call_id})
    finally:
        conn.close()


RIVAL = factory.TenantSpec(
    "Rival Clinic",
    [
        factory.SiteSpec(
            "rival",
            name="Rival site",
            pools=[
                factory.PoolSpec(
                    "+81355550000", ["+815099990001"], label="Rival", name="Rival pool"
                )
            ],
        )
    ],
)


async def seed(db: Store, now_ms: int | None = None) -> Seeded:
    """Two advertisers: the demo one (A) and a rival (B), each with visits and calls.

    Expects the demo (``callpath demo``) to be seeded already.
    """
    async with db.write() as conn:
        return await _seed(conn, now_ms)


async def _seed(conn: Tx, now_ms: int | None) -> Seeded:
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    s = Seeded()
    site = await conn.fetchone("SELECT id, advertiser_id FROM sites WHERE site_key = 'demo'")
    assert site is not None
    s.site_a, s.adv_a = int(site["id"]), int(site["advertiser_id"])
    num = await conn.fetchone(
        "SELECT id, number FROM tracking_numbers WHERE site_id = :s ORDER BY id LIMIT 1",
        {"s": s.site_a},
    )
    assert num is not None
    s.number_a = int(num["id"])
    s.tracking_a = str(num["number"])
    s.target_a = int(
        await conn.fetchval("SELECT MIN(id) FROM targets WHERE site_id = :s", {"s": s.site_a})
    )
    await conn.execute(
        "INSERT INTO call_flows (advertiser_id, target_id, version, document, author, created_ms)"
        " VALUES (:a, :t, 1, :d, 'seed', :now)",
        {"a": s.adv_a, "t": s.target_a, "d": orjson.dumps(FLOW_A).decode(), "now": now},
    )

    async def row(table: str, **values: Any) -> int:
        """One row of ``table``, created now."""
        return await _insert(conn, table, created_ms=now, **values)

    # Advertiser B's configuration through the shared factory (backend/storage/seed.py).
    world = factory.World()
    rival = await factory.add_tenant(conn, world, RIVAL, now_ms=now)
    rival_site = rival.sites["rival"]
    s.adv_b, s.site_b = rival.advertiser_id, rival_site.site_id
    s.pool_b = rival_site.pool.pool_id
    s.target_b = rival_site.pool.target_id
    (s.number_b,) = rival_site.pool.number_ids
    pw = hash_password(PASSWORD)
    for email, role, adv in (
        (s.member_a, "member", s.adv_a),
        (s.member_b, "member", s.adv_b),
        (s.admin, "admin", None),
    ):
        await row(
            "users",
            email=email,
            password_hash=pw,
            role=role,
            advertiser_id=adv,
            can_see_callers=int(role == "admin"),
        )
    s.user_b = member_b_id = await conn.fetchval(
        "SELECT id FROM users WHERE email = :e", {"e": s.member_b}
    )
    token = {"name": "rival token", "token_hash": "x" * 64}
    s.token_b = await row("api_tokens", user_id=member_b_id, advertiser_id=s.adv_b, **token)
    rule = {"kind": "param", "match_key": "utm_source", "match_value": "rival", "action": "pool"}
    s.rule_b = await row("source_rules", site_id=s.site_b, **rule)
    s.transcript_rule_b = await transcripts.add_rule(
        conn, advertiser_id=s.adv_b, phrase="キャンセル", outcome_id=None, tag="解約", now_ms=now
    )
    blocked = {"pattern": "+819000000999", "kind": "exact"}
    s.blocked_b = await row("blocked_callers", advertiser_id=s.adv_b, **blocked)
    code = {"code": "11", "source_label": "rival flyer"}
    s.code_b = await row("fixed_codes", number_id=s.number_b, **code)
    hook = {"kind": "webhook", "address": "https://rival.example.jp/hook"}
    s.notify_b = await row("notification_targets", advertiser_id=s.adv_b, **hook)
    # Advertiser A: a Google Ads visit that called, a Yahoo! visit that called, organic visits.
    t0 = now - 2 * 3600_000
    s.session_a = await add_session(
        conn,
        s.site_a,
        t0,
        channel="paid_search",
        source="google",
        medium="cpc",
        campaign="implant-2025",
        ad_group="implant-cost",
        keyword=KEYWORD_A,
        match_type="phrase",
        gclid="Cj0KCQiA-test-gclid",
        device="mobile",
        os="iOS",
        browser="Safari",
        country="JP",
        region="Tokyo",
        city="Shibuya",
        landing_url="https://demo.example.jp/implant?gclid=Cj0KCQiA-test-gclid",
        referrer="https://www.google.com/",
    )
    await add_view(conn, s.session_a, t0, "https://demo.example.jp/implant", "インプラント治療")
    await add_view(conn, s.session_a, t0 + 65_000, "https://demo.example.jp/price", "料金表")
    await add_view(conn, s.session_a, t0 + 190_000, "https://demo.example.jp/access", "アクセス")
    s.calls_a.append(
        await add_call_a(
            conn,
            s,
            caller=CALLER_A,
            started_ms=t0 + 240_000,
            session_id=s.session_a,
            lease_id=None,
            qualified=1,
            first_time=1,
        )
    )
    await _flow_journey(conn, s, s.calls_a[0], t0 + 240_000)
    # The first call was recorded, kept and transcribed (the call page's player, issue #22).
    recording = await conn.fetchval(
        "INSERT INTO recordings (call_id, source_sid, source_url, status, storage,"
        " original_key, original_type, mp3_key, duration_ms, channels, created_ms, stored_ms,"
        " transcript_status) VALUES (:c, 'RE1', '', 'stored', 'local', :k, 'audio/wav', '',"
        " 3000, 2, :t, :t, 'done') RETURNING id",
        {"c": s.calls_a[0], "k": f"calls/{s.calls_a[0]}/RE1.wav", "t": t0 + 300_000},
    )
    for channel, start, text in ((0, 1200, "hello i would like an appointment"),
                                 (1, 1500, "we can see you tomorrow morning")):  # fmt: skip
        await conn.execute(
            "INSERT INTO transcript_lines (recording_id, call_id, channel, start_ms, end_ms,"
            " text) VALUES (:r, :c, :ch, :s, :e, :x)",
            {"r": recording, "c": s.calls_a[0], "ch": channel, "s": start, "e": start + 3000,
             "x": text},
        )  # fmt: skip
    # Its transcript in the search index, and a rule of A's on it (the analysis page).
    await transcripts.store_transcript(
        conn, call_id=s.calls_a[0], advertiser_id=s.adv_a, now_ms=t0 + 300_000,
        texts=["hello i would like an appointment", "we can see you tomorrow morning"],
    )  # fmt: skip
    await transcripts.add_rule(
        conn, advertiser_id=s.adv_a, phrase="appointment", outcome_id=None, tag="予約",
        now_ms=t0,
    )  # fmt: skip
    yahoo = await add_session(
        conn,
        s.site_a,
        now - DAY - 3600_000,
        channel="paid_search",
        source="yahoo",
        medium="cpc",
        campaign="brand",
        keyword="歯医者 渋谷",
        yclid="YSS.test",
        device="desktop",
        landing_url="https://demo.example.jp/",
    )
    await add_view(conn, yahoo, now - DAY - 3600_000, "https://demo.example.jp/", "トップ")
    s.calls_a.append(
        await add_call_a(
            conn,
            s,
            caller="+819011112222",
            started_ms=now - DAY - 3000_000,
            session_id=yahoo,
            qualified=0,
            first_time=1,
            talk_s=20,
        )
    )
    for i in range(5):
        await add_session(
            conn,
            s.site_a,
            now - i * 3600_000 - 60_000,
            channel="organic",
            source="google",
            device="desktop",
            landing_url="https://demo.example.jp/",
        )
    # Advertiser B: one visit and one call that A's members must never see.
    rival = await add_session(
        conn,
        s.site_b,
        now - 3600_000,
        channel="paid_search",
        source="google",
        keyword=KEYWORD_B,
        landing_url="https://rival.example.jp/secret",
    )
    await add_view(
        conn, rival, now - 3600_000, "https://rival.example.jp/secret", "Rival secret page"
    )
    s.calls_b.append(
        await add_call(
            conn,
            advertiser_id=s.adv_b,
            site_id=s.site_b,
            number_id=s.number_b,
            tracking_number="+815099990001",
            caller=CALLER_B,
            started_ms=now - 3000_000,
            session_id=rival,
            qualified=1,
        )
    )
    await conn.execute(
        "INSERT INTO conversion_ledger (platform, call_id, click_id, batch, exported_ms)"
        " VALUES ('google', :c, 'Cj0-rival', 'rival-batch', :t)",
        {"c": s.calls_b[-1], "t": now},
    )
    s.batch_b = await row(
        "conversion_batches",
        platform="google",
        batch="rival-batch",
        advertiser_id=s.adv_b,
        row_count=1,
        rows_json=f'[[{s.calls_b[-1]}, "Cj0-rival"]]',
        filename="google-conversions-rival-batch.csv",
        media_type="text/csv; charset=utf-8",
        content="Uml2YWwgc2VjcmV0",  # base64 of "Rival secret"
    )
    s.action_b = await row(
        "conversion_actions",
        site_id=s.site_b,
        platform="google",
        name="Rival 有効電話",
        updated_ms=now,
    )
    s.feed_b = await row(
        "conversion_feeds", action_id=s.action_b, token_sha256="0" * 64, label="Rival feed"
    )
    # Billing (issue #20): the portal's default plan, B's own plan and B's dispute of its call.
    for adv, label, price in ((None, "standard", 3000), (s.adv_b, "Rival plan", 9000)):
        plan = await row(
            "billing_plans",
            advertiser_id=adv,
            effective_from="2020-01-01",
            label=label,
            min_talk_s=60,
            repeat_days=7,
            monthly_fee_yen=10_000,
        )
        await conn.execute(
            "INSERT INTO billing_prices (plan_id, kind, price_yen) VALUES (:p, 'call', :y)",
            {"p": plan, "y": price},
        )
    s.dispute_b = await _insert(
        conn,
        "billing_disputes",
        advertiser_id=s.adv_b,
        call_id=s.calls_b[-1],
        reason="Rival dispute reason",
        opened_by="user (dashboard)",
        opened_ms=now,
    )
    [number_b] = await factory.add_reservation_numbers(
        conn, [RESERVATION_B], advertiser_id=s.adv_b, phones=["+819011110000"], now_ms=now
    )
    s.reservation_b = await row(
        "reservations",
        advertiser_id=s.adv_b,
        lead_ref="rival-lead-1",
        lead_name="Rival lead",
        lead_phone=CALLER_B,
        medium="rival-medium",
        number_id=number_b,
        start_ms=now + DAY,
        end_ms=now + DAY + 1_800_000,
        hold_start_ms=now + DAY - 300_000,
        hold_end_ms=now + DAY + 2_100_000,
        updated_ms=now,
    )
    return s


_HISTORY = [
    # channel, source, medium, campaign, ad group, keyword, weight
    ("paid_search", "google", "cpc", "implant-2025", "implant-cost", "インプラント 費用", 9),
    ("paid_search", "google", "cpc", "implant-2025", "implant-area", "インプラント 渋谷", 6),
    ("paid_search", "yahoo", "cpc", "brand", "brand", "歯医者 渋谷", 7),
    ("paid_search", "yahoo", "cpc", "whitening", "whitening", "ホワイトニング 安い", 4),
    ("paid_social", "facebook", "paid", "spring", "lookalike", "", 3),
    ("organic", "google", "organic", "", "", "", 8),
    ("referral", "epark.jp", "referral", "", "", "", 3),
    ("direct", "", "", "", "", "", 4),
]


async def seed_history(db: Store, s: Seeded, days: int = 30, now_ms: int | None = None) -> None:
    """A month of varied visits and calls for advertiser A, so charts have something to show."""
    import random

    rng = random.Random(7)
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    async with db.write() as conn:
        await _history(conn, s, days, now, rng)


async def _history(conn: Tx, s: Seeded, days: int, now: int, rng: Any) -> None:
    number = s.tracking_a
    weights = [h[-1] for h in _HISTORY]
    for day in range(days, 0, -1):
        for _ in range(rng.randint(15, 30)):
            ch, src, med, camp, grp, kw, _w = rng.choices(_HISTORY, weights)[0]
            started = now - day * DAY + rng.randint(0, DAY - 1)
            sid = await add_session(
                conn,
                s.site_a,
                started,
                channel=ch,
                source=src,
                medium=med,
                campaign=camp,
                ad_group=grp,
                keyword=kw,
                device=rng.choice(["mobile", "mobile", "desktop", "tablet"]),
                landing_url=rng.choice(
                    ["https://demo.example.jp/", "https://demo.example.jp/implant"]
                ),
            )
            if rng.random() < 0.18:
                await add_call(
                    conn,
                    advertiser_id=s.adv_a,
                    site_id=s.site_a,
                    number_id=s.number_a,
                    tracking_number=number,
                    caller=f"+8190{rng.randint(10_000_000, 99_999_999)}",
                    started_ms=started + rng.randint(60_000, 900_000),
                    session_id=sid,
                    qualified=int(rng.random() < 0.6),
                    first_time=int(rng.random() < 0.7),
                    talk_s=rng.randint(5, 600),
                )


async def add_token(
    db: Store,
    email: str,
    *,
    advertiser_id: int | None,
    can_see_callers: bool = False,
    read_only: bool = False,
    name: str = "test token",
) -> str:
    """An API token of the seeded user ``email``, made as the API would make it; the secret."""

    async with db.write() as tx:
        user_id = await tx.fetchval("SELECT id FROM users WHERE email = :e", {"e": email})
        return await accounts.create_api_token(
            tx,
            user_id=int(user_id),
            advertiser_id=advertiser_id,
            name=name,
            now_ms=int(time.time() * 1000),
            can_see_callers=can_see_callers,
            **({"read_only": True} if read_only else {}),
        )


# A portal's shared site key (issue #16): the site is the portal's (advertiser "Portal
# Media"); its two business numbers belong to advertiser A (the demo) and B (the rival).
PORTAL_KEYWORD_A = "portal-keyword-of-a"
PORTAL_KEYWORD_B = "portal-keyword-of-b"
PORTAL_CALLER_B = "+819077776666"
PORTAL_NUMBER_A = "+815077770001"
PORTAL_NUMBER_B = "+815077770002"


@dataclass
class Portal:
    """Ids of the shared site and of what was written on it."""

    adv: int = 0
    site: int = 0
    pool_a: int = 0
    pool_b: int = 0
    session_a: int = 0  # held A's number and called it
    session_b: int = 0  # held B's number and called it
    session_p: int = 0  # a visit of the portal that saw neither number
    call_a: int = 0
    call_b: int = 0
    call_a_no_session: int = 0  # a call to A's number matched to no visit


async def seed_portal(db: Store, s: Seeded, now_ms: int | None = None) -> Portal:
    """The portal's shared site, with a visit and a call for each of A and B (after
    :func:`seed`)."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    async with db.write() as conn:
        world = factory.World()
        world.tenants["A"] = factory.Tenant("A", s.adv_a)
        world.tenants["B"] = factory.Tenant("B", s.adv_b)
        spec = factory.TenantSpec(
            "Portal Media",
            [
                factory.SiteSpec(
                    "portal",
                    name="Portal site",
                    domains=["portal.example.jp"],
                    pools=[
                        factory.PoolSpec("+81344440001", [PORTAL_NUMBER_A], advertiser="A"),
                        factory.PoolSpec("+81344440002", [PORTAL_NUMBER_B], advertiser="B"),
                    ],
                )
            ],
        )
        tenant = await factory.add_tenant(conn, world, spec, now_ms=now)
        site = tenant.sites["portal"]
        p = Portal(adv=tenant.advertiser_id, site=site.site_id)
        pool_a, pool_b = site.pools
        p.pool_a, p.pool_b = pool_a.pool_id, pool_b.pool_id
        t0 = now - 1800_000
        for owner, pool, keyword, caller in (
            ("a", pool_a, PORTAL_KEYWORD_A, "+819055554444"),
            ("b", pool_b, PORTAL_KEYWORD_B, PORTAL_CALLER_B),
        ):
            session = await add_session(
                conn,
                p.site,
                t0,
                channel="paid_search",
                source="google",
                keyword=keyword,
                landing_url=f"https://portal.example.jp/{owner}",
            )
            await add_view(conn, session, t0, f"https://portal.example.jp/{owner}", keyword)
            (number_id,) = pool.number_ids
            lease = await _insert(
                conn,
                "leases",
                pool_id=pool.pool_id,
                number_id=number_id,
                session_id=session,
                started_ms=t0,
                last_seen_ms=t0,
                expires_ms=t0 + 600_000,
                ended_ms=t0 + 600_000,
            )
            call = await add_call(
                conn,
                advertiser_id=s.adv_a if owner == "a" else s.adv_b,
                site_id=p.site,
                number_id=number_id,
                tracking_number=pool.numbers[0],
                caller=caller,
                started_ms=t0 + 60_000,
                session_id=session,
                lease_id=lease,
            )
            setattr(p, f"session_{owner}", session)
            setattr(p, f"call_{owner}", call)
        p.session_p = await add_session(
            conn,
            p.site,
            t0,
            channel="organic",
            source="google",
            landing_url="https://portal.example.jp/",
        )
        p.call_a_no_session = await add_call(
            conn,
            advertiser_id=s.adv_a,
            site_id=p.site,
            number_id=pool_a.number_ids[0],
            tracking_number=PORTAL_NUMBER_A,
            caller="+819033332222",
            started_ms=t0 + 120_000,
        )
    return p
