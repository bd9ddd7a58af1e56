"""Setting reserved calls up through the API: numbers, registered phones, templates, and
the capacity view."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from backend.storage import seed
from tests.reservations.conftest import NUMBER, Portal, auth
from tests.reservations.test_flow import START, book


async def test_numbers_phones_and_templates(
    app: Starlette, client: httpx.AsyncClient, portal: Portal
) -> None:
    headers = auth(portal)
    added = await client.post(
        "/api/reservation-numbers", json={"number": "050-1234-0099"}, headers=headers
    )
    assert added.status_code == 201 and added.json()["advertiser_id"] == portal.advertiser_id
    again = await client.post("/api/reservation-numbers", json={"number": NUMBER}, headers=headers)
    assert again.status_code == 409
    # A member cannot set up a number shared by every advertiser, nor another's.
    other = await client.post(
        "/api/reservation-numbers",
        json={"number": "050-1234-0098", "advertiser_id": portal.advertiser_id + 1},
        headers=headers,
    )
    assert other.status_code == 403
    listed = (await client.get("/api/reservation-numbers", headers=headers)).json()["data"]
    assert [n["number"] for n in listed] == [NUMBER, "+815012340099"]

    phone = await client.post(
        "/api/reservation-phones", json={"phone": "03-1111-2222", "label": "営業"}, headers=headers
    )
    assert phone.status_code == 201 and phone.json()["phone"] == "+81311112222"
    bad = await client.post("/api/reservation-phones", json={"phone": "12"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "phone"
    gone = await client.delete(f"/api/reservation-phones/{phone.json()['id']}", headers=headers)
    assert gone.status_code == 204

    put = await client.put(
        "/api/sms-templates",
        json={"kind": "reminder", "lang": "ja", "body": "{advertiser}です。{start}に{number}から"},
        headers=headers,
    )
    assert put.status_code == 200
    refused = await client.put(
        "/api/sms-templates",
        json={"kind": "reminder", "lang": "ja", "body": "{advertiser.__class__}"},
        headers=headers,
    )
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "body"
    reservation = (await book(client, portal)).json()
    row = await app.state.reservations.get(reservation["id"])
    fields = await app.state.reservations.fields(row)
    template = await app.state.reservations.template(portal.advertiser_id, "reminder", "ja")
    assert template == "{advertiser}です。{start}に{number}から"
    assert fields["start"] == "14:00"


async def test_a_tracking_number_cannot_be_a_reservation_number(
    app: Starlette, client: httpx.AsyncClient, portal: Portal
) -> None:
    site = await seed.seed_site(
        app.state.db,
        "Other",
        seed.SiteSpec(
            "s", domains=["s.example"], pools=[seed.PoolSpec("+81312345678", ["+815017000001"])]
        ),
    )
    assert site.pool.numbers
    taken = await client.post(
        "/api/reservation-numbers", json={"number": "+815017000001"}, headers=auth(portal)
    )
    assert taken.status_code == 409


async def test_capacity_counts_windows_per_number_and_hour(
    client: httpx.AsyncClient, portal: Portal
) -> None:
    await book(client, portal)
    answer = await client.get(
        "/api/reservations/capacity?days=2&bookings_per_hour=25&window_minutes=30",
        headers=auth(portal),
    )
    assert answer.status_code == 200
    body = answer.json()
    [number] = body["numbers"]
    assert number["number"] == NUMBER
    # 14:00 in Tokyo is 05:00 UTC (the view's hours are UTC, as the API's times).
    assert number["hours"] == [{"hour": "2026-12-07T05:00:00+00:00", "windows": 1}]
    assert body["numbers_needed"] == 25


async def test_a_lead_from_a_tracked_form_joins_its_visit(
    app: Starlette, client: httpx.AsyncClient, portal: Portal
) -> None:
    from attribution.tokens import SESSION_TOKEN, Signer
    from tests.dashboard.seed import add_session

    db = app.state.db
    spec = seed.SiteSpec("portal", domains=["portal.example"], pools=[])
    other = await seed.seed_site(db, "Someone else", seed.SiteSpec("else", domains=["e.example"]))
    async with db.write() as tx:
        site = await seed.add_site(tx, advertiser_id=portal.advertiser_id, spec=spec, now_ms=0)
        own = await add_session(tx, site.site_id, 1_000)
        foreign = await add_session(tx, other.site_id, 1_000)
    signer = Signer(app.state.settings.secret_key, SESSION_TOKEN)
    joined = await book(client, portal, "L-own", session_token=signer.sign(own))
    assert joined.status_code == 201 and joined.json()["session_id"] == own
    # Another advertiser's visit is not joined; a forged token is refused.
    alien = await book(client, portal, "L-alien", session_token=signer.sign(foreign),
                       start_ms=START + 3_600_000, end_ms=START + 5_400_000)  # fmt: skip
    assert alien.status_code == 201 and alien.json()["session_id"] is None
    forged = await book(client, portal, "L-forged", session_token="MTI.forged")
    assert forged.status_code == 422 and forged.json()["error"]["field"] == "session_token"
