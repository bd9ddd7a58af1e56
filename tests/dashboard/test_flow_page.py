"""The call-flow page of a business number: a form per step type, refusals by the field,
every change a version, roll back (issue #18)."""

from __future__ import annotations

from typing import Any

import httpx

from backend.telephony import flowstore
from pool.scope import EVERYTHING
from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import FLOW_A, PASSWORD, Seeded


async def _flow(db: Store, target: int) -> dict[str, Any]:
    found = await flowstore.current(db, EVERYTHING, target)
    assert found is not None
    return found


async def test_every_step_type_has_its_form_and_edits_make_versions(
    client: httpx.AsyncClient, seeded: Seeded, db: Store, app: Any
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    site = await client.get(f"/dashboard/settings/sites/{seeded.site_a}")
    url = f"/dashboard/settings/targets/{seeded.target_a}/flow"
    assert f'href="{url}"' in site.text
    page = await client.get(url)
    assert page.status_code == 200
    for step_id in FLOW_A["steps"]:
        assert f'action="{url}/steps/{step_id}"' in page.text
    # The stored values are in their forms.
    assert "09:00-12:30, 14:00-19:00" in page.text and "1=sales" in page.text
    # How its calls fared: the seeded call waited 42 s, rang a busy phone, was answered.
    report = page.text[page.text.index('id="flow-report"') :]
    report = report[: report.index("</section>")]
    phones = report[report.index('id="by-destination"') :]
    assert "090-1111-0001</td><td>1</td><td>0</td><td>1</td><td>0%" in phones
    assert "090-1111-0002</td><td>0</td><td>1</td><td>0</td>" in phones
    assert "main:2</td><td>1</td><td>1</td><td>0</td><td>100%</td><td>1</td><td>0:42" in report
    # Change the ring step: two phones, the first for 15 seconds.
    ring = {
        "csrf": csrf,
        "mode": "sequential",
        "destinations": "090-1111-0001 15\n090-1111-0003",
        "no_answer": "vm",
    }
    done = await client.post(f"{url}/steps/sales", data=ring)
    assert done.status_code == 303, done.text
    flow = await _flow(db, seeded.target_a)
    assert flow["version"] == 2 and flow["author"] == seeded.member_a
    assert flow["flow"]["steps"]["sales"]["destinations"] == [
        {"number": "090-1111-0001", "timeout_s": 15},
        "090-1111-0003",
    ]
    loaded = app.state.telephony.table.flow_of_target(seeded.target_a)
    assert loaded is not None and loaded.version == 2
    # A new step, then a refused one: the reason by its field, the values kept.
    added = await client.post(
        f"{url}/add/message",
        data={"csrf": csrf, "step_id": "thanks", "prompt": "ありがとうございました。"},
    )
    assert added.status_code == 303, added.text
    assert (await _flow(db, seeded.target_a))["flow"]["steps"]["thanks"]["type"] == "message"
    bad = await client.post(
        f"{url}/add/schedule",
        data={"csrf": csrf, "step_id": "late", "hours_tue": "19:00-09:00", "open": "sales"},
    )
    assert bad.status_code == 422
    assert "steps.late.hours.tue[0]" in bad.text and "19:00-09:00" in bad.text
    wrong_branch = await client.post(
        f"{url}/steps/line", data={"csrf": csrf, "destinations": "not a phone"}
    )
    assert wrong_branch.status_code == 422 and "is not a phone number" in wrong_branch.text
    assert (await _flow(db, seeded.target_a))["version"] == 3
    # Roll back to the seeded version.
    back = await client.post(f"{url}/rollback", data={"csrf": csrf, "version": "1"})
    assert back.status_code == 303
    flow = await _flow(db, seeded.target_a)
    assert flow["version"] == 4 and flow["flow"] == FLOW_A and flow["rolled_back_from"] == 1
    history = await client.get(url)
    assert "seed" in history.text and f"{url}/rollback" in history.text


async def test_another_advertisers_flow_is_not_found(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    csrf = await login(client, seeded.member_b, PASSWORD)
    url = f"/dashboard/settings/targets/{seeded.target_a}/flow"
    assert (await client.get(url)).status_code == 404
    r = await client.post(f"{url}/rollback", data={"csrf": csrf, "version": "1"})
    assert r.status_code == 404
    r = await client.post(f"{url}/add/hangup", data={"csrf": csrf, "step_id": "x"})
    assert r.status_code == 404


async def test_an_sms_step_is_added_and_edited_through_its_form(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    url = f"/dashboard/settings/targets/{seeded.target_a}/flow"
    page = await client.get(url)
    assert f'action="{url}/add/sms"' in page.text and "{keyword}" in page.text
    alert = {
        "csrf": csrf,
        "step_id": "alert",
        "to_kind": "staff",
        "to_numbers": "090-1111-0009\r\n090-1111-0008",
        "when": "missed",
        "template": "不在着信 {caller} {source} {keyword}",
        "next": "vm",
    }
    added = await client.post(f"{url}/add/sms", data=alert)
    assert added.status_code == 303, added.text
    step = (await _flow(db, seeded.target_a))["flow"]["steps"]["alert"]
    assert step == {
        "type": "sms",
        "to": ["090-1111-0009", "090-1111-0008"],
        "when": "missed",
        "template": "不在着信 {caller} {source} {keyword}",
        "next": "vm",
    }
    shown = await client.get(url)
    assert "090-1111-0009\n090-1111-0008</textarea>" in shown.text
    # A place the call does not offer, or no staff phone: refused by the field.
    bad = await client.post(
        f"{url}/steps/alert", data={**alert, "template": "{password}", "step_id": ""}
    )
    assert bad.status_code == 422 and "unknown place {password}" in bad.text
    none = await client.post(f"{url}/steps/alert", data={**alert, "to_numbers": ""})
    assert none.status_code == 422 and "steps.alert.to" in none.text
    caller = await client.post(f"{url}/steps/alert", data={**alert, "to_kind": "caller"})
    assert caller.status_code == 303
    step = (await _flow(db, seeded.target_a))["flow"]["steps"]["alert"]
    assert step["to"] == "caller"


async def test_a_flow_per_tracking_number_and_per_source(
    client: httpx.AsyncClient, seeded: Seeded, db: Store, app: Any
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    url = f"/dashboard/settings/targets/{seeded.target_a}/flow"
    # Open the tracking number's flow: a page of its own, empty, the target's untouched.
    opened = await client.get(url, params={"number": seeded.tracking_a})
    assert opened.status_code == 303, opened.text[-3000:]
    number_url = opened.headers["location"]
    assert number_url == f"{url}/n-{seeded.number_a}"
    page = await client.get(number_url)
    assert page.status_code == 200 and 'id="flow-scope"' in page.text
    assert 'id="flow-none"' in page.text and f'action="{number_url}/add/hangup"' in page.text
    added = await client.post(f"{number_url}/add/hangup", data={"csrf": csrf, "step_id": "bye"})
    assert added.status_code == 303 and added.headers["location"] == number_url
    found = await flowstore.current(db, EVERYTHING, seeded.target_a, number=seeded.tracking_a)
    assert found is not None and found["flow"]["steps"] == {"bye": {"type": "hangup"}}
    assert (await _flow(db, seeded.target_a))["flow"] == FLOW_A
    table = app.state.telephony.table
    assert table.flow_of_target(seeded.target_a, f"n:{seeded.number_a}").version == 2
    # A source's flow (any label, in the address as hex); a refused step stays on its page.
    opened = await client.get(url, params={"source": "チラシ"})
    source_url = opened.headers["location"]
    assert source_url == f"{url}/s-{'チラシ'.encode().hex()}"
    bad = await client.post(
        f"{source_url}/add/ring", data={"csrf": csrf, "step_id": "r", "destinations": "nope"}
    )
    assert bad.status_code == 422 and "is not a phone number" in bad.text
    assert "チラシ" in bad.text
    ok = await client.post(
        f"{source_url}/add/ring", data={"csrf": csrf, "step_id": "r", "destinations": "0311112222"}
    )
    assert ok.status_code == 303
    listed = (await client.get(url)).text
    assert f'href="{number_url}"' in listed and f'href="{source_url}"' in listed
    # Edit, then roll back the number's flow: back on the number's page.
    await client.post(f"{number_url}/steps/bye", data={"csrf": csrf, "remove": "1"})
    assert await flowstore.current(db, EVERYTHING, seeded.target_a, number=seeded.tracking_a)
    back = await client.post(f"{url}/rollback", data={"csrf": csrf, "version": "2"})
    assert back.headers["location"] == number_url
    # Nonsense or another advertiser's number: not found / refused.
    assert (await client.get(f"{url}/x-1")).status_code == 404
    assert (await client.get(f"{url}/n-999999")).status_code == 404
    assert (await client.get(f"{url}/s-ff")).status_code == 404
    # Another advertiser's tracking number under one's own business number: not found.
    assert (await client.get(f"{url}/n-{seeded.number_b}")).status_code == 404
    hijack = {"csrf": csrf, "step_id": "x"}
    r = await client.post(f"{url}/n-{seeded.number_b}/add/hangup", data=hijack)
    assert r.status_code == 404
    other = await client.get(url, params={"number": "+815099999999"})
    assert other.status_code == 422 and "Not a tracking number of this advertiser" in other.text


async def test_opening_a_flow_that_cannot_be_keeps_what_was_typed(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    # The "open its flow" form is a GET: its refusal showed the form emptied.
    await login(client, seeded.member_a, PASSWORD)
    url = f"/dashboard/settings/targets/{seeded.target_a}/flow"
    refused = await client.get(url, params={"number": "+815099999999"})
    assert refused.status_code == 422 and "Not a tracking number of this advertiser" in refused.text
    assert 'class="error" value="+815099999999"' in refused.text
    both = await client.get(url, params={"number": "+815099999999", "source": "チラシ"})
    assert both.status_code == 422
    assert 'value="+815099999999"' in both.text and 'value="チラシ"' in both.text


async def test_opening_a_flow_that_cannot_be_says_why_in_japanese(
    client: httpx.AsyncClient, seeded: Seeded
) -> None:
    # The reasons were the domain's English after a Japanese "このフローは使えません:".
    await login(client, seeded.member_a, PASSWORD)
    url = f"/dashboard/settings/targets/{seeded.target_a}/flow"
    ja = {"Accept-Language": "ja"}
    cases = [
        ({"number": "+815099999999"}, "この広告主の計測用電話番号ではありません。"),
        ({"number": "nope"}, "この広告主の計測用電話番号ではありません。"),
        ({"number": "+815099999999", "source": "チラシ"}, "どちらか一方"),
        ({"source": "あ" * 61}, "60文字以内"),
    ]
    for params, words in cases:
        r = await client.get(url, params=params, headers=ja)
        assert r.status_code == 422 and words in r.text, params
        assert "not a tracking number" not in r.text and "not both" not in r.text
        assert "is not a phone number" not in r.text and "at most" not in r.text
    en = await client.get(url, params={"number": "+815099999999", "source": "x"})
    assert "a tracking number or a source, not both" in en.text
