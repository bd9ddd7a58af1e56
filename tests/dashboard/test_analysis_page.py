"""The call analysis settings page (issue #22): an advertiser's transcript rules (list, add,
edit, retire), its recording retention and who may hear recordings; refused forms come
back in the layout with the reason in the user's language; the recording right on the
users page."""

from __future__ import annotations

import re

import httpx

from attribution import transcripts
from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded
from tests.dashboard.test_form_errors import JA, _field_error, _form, _in_layout

BASE = "/dashboard/settings/analysis"


async def _csrf(client: httpx.AsyncClient, path: str) -> str:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found
    return found.group(1)


async def test_a_member_keeps_the_rules_of_their_advertiser(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    await login(client, seeded.member_a, PASSWORD)
    own = f"{BASE}/{seeded.adv_a}"
    went = await client.get(BASE)
    assert went.status_code == 303 and went.headers["location"] == own
    csrf = await _csrf(client, own)
    won = await db.fetchval(
        "SELECT id FROM call_outcomes WHERE advertiser_id = :a AND label = '@won'",
        {"a": seeded.adv_a},
    )
    made = await client.post(
        f"{own}/rules",
        data={"csrf": csrf, "phrase": "ご予約", "outcome_id": str(won), "tag": "予約"},
    )
    assert made.status_code == 303
    rules = await transcripts.rules(db, seeded.adv_a)
    rule = next(r for r in rules if r["phrase"] == "ご予約")
    assert (rule["outcome_id"], rule["tag"]) == (won, "予約")
    page = (await client.get(own)).text
    assert "ご予約" in page and f'action="{own}/rules/{rule["id"]}"' in page
    # Edit: the phrase and tag change, the outcome goes; its place in the list stays.
    edited = await client.post(
        f"{own}/rules/{rule['id']}",
        data={"csrf": csrf, "phrase": "予約したい", "outcome_id": "", "tag": "見込み"},
    )
    assert edited.status_code == 303
    after = next(r for r in await transcripts.rules(db, seeded.adv_a) if r["id"] == rule["id"])
    assert (after["phrase"], after["outcome_id"], after["tag"], after["position"]) == (
        "予約したい", None, "見込み", rule["position"],
    )  # fmt: skip
    # Retire: gone from the list (and from the page).
    gone = await client.post(f"{own}/rules/{rule['id']}/retire", data={"csrf": csrf})
    assert gone.status_code == 303
    assert rule["id"] not in [r["id"] for r in await transcripts.rules(db, seeded.adv_a)]
    assert "予約したい" not in (await client.get(own)).text
    again = await client.post(f"{own}/rules/{rule['id']}/retire", data={"csrf": csrf})
    assert again.status_code == 404
    # Retention: kept (0), then 90 days.
    saved = await client.post(f"{own}/retention", data={"csrf": csrf, "days": "90"})
    assert saved.status_code == 303
    days = "SELECT recording_retention_days FROM advertisers WHERE id = :a"
    assert await db.fetchval(days, {"a": seeded.adv_a}) == 90
    assert 'value="90"' in (await client.get(own)).text
    # Another advertiser's page, rules and retention are not theirs: 404, nothing changed.
    other = f"{BASE}/{seeded.adv_b}"
    assert (await client.get(other)).status_code == 404
    for path, data in (
        (f"{other}/rules", {"phrase": "x", "tag": "y"}),
        (f"{other}/retention", {"days": "1"}),
        (f"{own}/rules/999999", {"phrase": "x", "tag": "y"}),
    ):
        assert (await client.post(path, data={"csrf": csrf, **data})).status_code == 404, path
    assert await db.fetchval(days, {"a": seeded.adv_b}) == 0


async def test_refused_forms_come_back_in_the_layout_in_the_users_language(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    await login(client, seeded.admin, PASSWORD)
    index = await client.get(BASE)  # an administrator chooses the advertiser
    own = f"{BASE}/{seeded.adv_a}"
    assert index.status_code == 200 and f'href="{own}"' in index.text
    csrf = await _csrf(client, own)
    cases = (
        (f"{own}/rules", {"phrase": "", "tag": "x"}, "phrase", "Enter a phrase", "フレーズは"),
        (f"{own}/rules", {"phrase": "p" * 101, "tag": "x"}, "phrase", "1 to 100", "1〜100"),
        (f"{own}/rules", {"phrase": "はい", "tag": ""}, "outcome_id", "Choose an outcome",
         "結果かタグ"),
        (f"{own}/rules", {"phrase": "はい", "outcome_id": "99999999", "tag": ""}, "outcome_id",
         "Choose an outcome", "結果かタグ"),
        (f"{own}/rules", {"phrase": "はい", "outcome_id": "abc", "tag": ""}, "outcome_id",
         "Choose an outcome", "結果かタグ"),
        (f"{own}/rules", {"phrase": "はい", "tag": "t" * 41}, "tag", "at most 40", "40文字"),
        (f"{own}/retention", {"days": "-1"}, "days", "from 0 to 3650", "0〜3650"),
        (f"{own}/retention", {"days": "3651"}, "days", "from 0 to 3650", "0〜3650"),
        (f"{own}/retention", {"days": "十"}, "days", "from 0 to 3650", "0〜3650"),
    )  # fmt: skip
    for action, data, field, english, japanese in cases:
        for headers, words in ((None, english), (JA, japanese)):
            page = await client.post(action, data={"csrf": csrf, **data}, headers=headers)
            assert page.status_code == 422, (action, data, page.text[:300])
            assert _in_layout(page.text), (action, data, headers, page.text[-600:])
            form = _form(page.text, action)
            assert words in _field_error(form, field), (action, data, headers)
            if field == "phrase" and data["phrase"]:
                assert data["phrase"] in form  # what was typed is kept
    # An edit's refusal comes back on the page with that rule's form open.
    rule = (await transcripts.rules(db, seeded.adv_a))[0]
    action = f"{own}/rules/{rule['id']}"
    page = await client.post(action, data={"csrf": csrf, "phrase": "", "tag": "x"}, headers=JA)
    assert page.status_code == 422 and "フレーズは" in _field_error(
        _form(page.text, action), "phrase"
    )
    assert "<details open" in page.text
    assert (await transcripts.rules(db, seeded.adv_a))[0]["phrase"] == rule["phrase"]
    assert (
        await db.fetchval(
            "SELECT recording_retention_days FROM advertisers WHERE id = :a", {"a": seeded.adv_a}
        )
        == 0
    )


async def test_the_recording_right_is_given_on_the_users_page_and_listed(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    await login(client, seeded.admin, PASSWORD)
    member = await db.fetchone("SELECT * FROM users WHERE email = :e", {"e": seeded.member_a})
    assert member is not None and not member["can_hear_recordings"]
    own = f"{BASE}/{seeded.adv_a}"
    assert seeded.member_a not in (await client.get(own)).text
    users = await client.get("/dashboard/settings/users")
    assert 'name="can_hear_recordings"' in users.text
    csrf = await _csrf(client, "/dashboard/settings/users")
    form = {"csrf": csrf, "role": "member", "advertiser": str(seeded.adv_a), "locale": ""}
    given = await client.post(
        f"/dashboard/settings/users/{member['id']}", data={**form, "can_hear_recordings": "1"}
    )
    assert given.status_code == 303
    hears = "SELECT can_hear_recordings FROM users WHERE id = :u"
    assert await db.fetchval(hears, {"u": member["id"]}) == 1
    listing = (await client.get(own)).text
    listed = re.search(r'<ul class="plain" id="listener-list">(.*?)</ul>', listing, re.S)
    assert listed and seeded.member_a in listed.group(1) and seeded.admin in listed.group(1)
    # The member now hears: the call log offers the "said" search and it answers.
    member_client = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
    async with member_client:
        await login(member_client, seeded.member_a, PASSWORD)
        log = await member_client.get("/dashboard/calls?said=appointment")
        assert log.status_code == 200 and 'name="said"' in log.text
        assert f'data-id="{seeded.calls_a[0]}"' in log.text
    # Taken away (the box unticked): the right is gone.
    taken = await client.post(f"/dashboard/settings/users/{member['id']}", data=form)
    assert taken.status_code == 303
    assert await db.fetchval(hears, {"u": member["id"]}) == 0
    made = await client.post(
        "/dashboard/settings/users",
        data={**form, "email": "listener@example.com", "password": "pw-listener-9",
              "can_hear_recordings": "1"},
    )  # fmt: skip
    assert made.status_code == 303
    assert (
        await db.fetchval(
            "SELECT can_hear_recordings FROM users WHERE email = 'listener@example.com'"
        )
        == 1
    )
