"""Calls worked by hand on the call page (issue #17): verdict with reason, tags, note,
outcome, value; the audit trail; caller history; the outcome list; errors in the page."""

from __future__ import annotations

import re

import httpx
import pytest

from attribution import call_work as cw
from attribution.qualification import qualify_call
from pool.store import Store, now_ms
from tests.dashboard.conftest import login
from tests.dashboard.seed import CALLER_A, PASSWORD, Seeded, add_call_a

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def _outcome(db: Store, advertiser_id: int, kind: str) -> int:
    rows = await cw.outcomes(db, advertiser_id)
    return int(next(o["id"] for o in rows if o["kind"] == kind))


async def test_a_member_works_its_call_and_every_change_is_audited(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    call = seeded.calls_a[1]  # the unqualified Yahoo! call
    won = await _outcome(db, seeded.adv_a, "won")
    r = await client.post(
        f"/dashboard/calls/{call}/work",
        data={
            "csrf": csrf,
            "qualified": "yes",
            "qualified_reason": "予約が入った",
            "outcome_id": str(won),
            "value_yen": "12,000",
            "tags": "予約, implant、予約",
            "note": "折り返し希望\r\n火曜午後",
        },
    )
    assert r.status_code == 303, r.text
    work = await cw.read_work(db, call)
    assert work.qualified is True and work.qualified_by_hand is True
    assert work.tags == ["implant", "予約"] and work.value_yen == 12000
    assert work.note == "折り返し希望\n火曜午後" and work.outcome_id == won
    fields = {a.field: a for a in work.audit}
    assert set(fields) == {
        "qualified",
        "qualified_by_hand",
        "qualified_reason",
        "outcome_id",
        "value_yen",
        "tags",
        "note",
    }
    assert fields["qualified"].before == "0" and fields["qualified"].after == "1"
    assert all(a.actor.startswith("user ") for a in work.audit)
    page = (await client.get(f"/dashboard/calls/{call}", headers={"Accept-Language": "ja"})).text
    assert 'id="work-audit"' in page and "予約が入った" in page
    # The rules run again when the call completes (a late status callback): the verdict
    # set by hand stays.
    assert await qualify_call(db, call_id=call) is True
    assert (await cw.read_work(db, call)).qualified is True
    # Saving the same values again writes no audit entry.
    stored = {
        "csrf": csrf,
        "outcome_id": str(won),
        "value_yen": "12000",
        "tags": "implant, 予約",
        "note": "折り返し希望\n火曜午後",
    }
    same = await client.post(f"/dashboard/calls/{call}/work", data={**stored, "qualified": "keep"})
    assert same.status_code == 303
    assert len((await cw.read_work(db, call)).audit) == len(work.audit)
    # The same verdict again (by hand, same reason): nothing written, the call untouched.
    stamp = await db.fetchval("SELECT updated_ms FROM calls WHERE id = :c", {"c": call})
    again = await client.post(
        f"/dashboard/calls/{call}/work",
        data={**stored, "qualified": "yes", "qualified_reason": "予約が入った"},
    )
    assert again.status_code == 303
    assert len((await cw.read_work(db, call)).audit) == len(work.audit)
    assert await db.fetchval("SELECT updated_ms FROM calls WHERE id = :c", {"c": call}) == stamp
    # Back to the rules: the rules' verdict (20 s of talk: not qualified) returns.
    back = await client.post(
        f"/dashboard/calls/{call}/work", data={"csrf": csrf, "qualified": "rules"}
    )
    assert back.status_code == 303
    assert (await cw.read_work(db, call)).qualified_by_hand is None
    assert await qualify_call(db, call_id=call) is False


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"qualified": "no"}, "qualified_reason", "理由を200文字以内で"),
        ({"value_yen": "-5"}, "value_yen", "金額は0以上の整数"),
        ({"value_yen": "１２"}, "value_yen", "金額は0以上の整数"),
        ({"tags": ",".join(f"t{i}" for i in range(21))}, "tags", "20個まで"),
        ({"note": "x" * 2001}, "note", "2,000文字以内"),
        ({"outcome_id": "999999"}, "outcome_id", "結果を一覧から"),
        ({"qualified": "maybe"}, "qualified", "判定を一覧から"),
    ],
)
async def test_a_bad_value_comes_back_in_the_page_with_what_was_typed(
    client: httpx.AsyncClient,
    seeded: Seeded,
    db: Store,
    data: dict[str, str],
    field: str,
    message: str,
) -> None:
    await login(client, seeded.member_a, PASSWORD)
    await client.post("/dashboard/locale", data={"csrf": "", "lang": "ja"})
    page = await client.get(
        f"/dashboard/calls/{seeded.calls_a[0]}", headers={"Accept-Language": "ja"}
    )
    csrf = CSRF.search(page.text)
    assert csrf
    form = {"csrf": csrf.group(1), "note": "残すメモ", **data}
    r = await client.post(
        f"/dashboard/calls/{seeded.calls_a[0]}/work",
        data=form,
        headers={"Accept-Language": "ja"},
    )
    assert r.status_code == 422
    assert "<nav" in r.text and 'id="work-form"' in r.text  # the page, not a bare error
    assert message in r.text and 'role="alert"' in r.text
    if field != "note":
        assert "残すメモ" in r.text  # what was typed is kept
    # Nothing was stored.
    assert (await cw.read_work(db, seeded.calls_a[0])).audit == []


async def test_another_advertisers_call_and_outcome_are_refused(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    other = seeded.calls_b[0]
    r = await client.post(f"/dashboard/calls/{other}/work", data={"csrf": csrf, "note": "x"})
    assert r.status_code == 404
    assert (await cw.read_work(db, other)).note == ""
    b_outcome = await _outcome(db, seeded.adv_b, "won")
    r = await client.post(
        f"/dashboard/calls/{seeded.calls_a[0]}/work",
        data={"csrf": csrf, "outcome_id": str(b_outcome)},
    )
    assert r.status_code == 422
    # Without the form's token: refused.
    r = await client.post(f"/dashboard/calls/{seeded.calls_a[0]}/work", data={"note": "x"})
    assert r.status_code == 403


async def test_caller_history_lists_the_callers_other_calls(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    await login(client, seeded.member_a, PASSWORD)
    async with db.write() as conn:
        again = await add_call_a(conn, seeded, caller=CALLER_A, started_ms=now_ms() - 60_000)
    page = (await client.get(f"/dashboard/calls/{again}")).text
    history = page.split('id="caller-history"')[1].split("</section>")[0]
    assert f'href="/dashboard/calls/{seeded.calls_a[0]}"' in history
    assert f'href="/dashboard/calls/{again}"' not in history  # not the call itself
    assert CALLER_A not in history  # the member may not see callers: no number shown


async def test_the_outcome_list_is_the_advertisers_own(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    csrf = await login(client, seeded.member_a, PASSWORD)
    page = await client.get("/dashboard/settings/outcomes", headers={"Accept-Language": "ja"})
    assert page.status_code == 200 and "成約" in page.text and "不成立" in page.text
    r = await client.post(
        "/dashboard/settings/outcomes", data={"csrf": csrf, "label": "NG: 価格", "kind": "lost"}
    )
    assert r.status_code == 303
    labels = [o["label"] for o in await cw.outcomes(db, seeded.adv_a)]
    assert labels[-1] == "NG: 価格"
    assert "NG: 価格" not in [o["label"] for o in await cw.outcomes(db, seeded.adv_b)]
    dup = await client.post(
        "/dashboard/settings/outcomes", data={"csrf": csrf, "label": "NG: 価格", "kind": "lost"}
    )
    assert dup.status_code == 422 and 'id="label-error"' in dup.text
    ng = next(o["id"] for o in await cw.outcomes(db, seeded.adv_a) if o["label"] == "NG: 価格")
    r = await client.post("/dashboard/settings/outcomes", data={"csrf": csrf, "retire": str(ng)})
    assert r.status_code == 303
    assert "NG: 価格" not in [o["label"] for o in await cw.outcomes(db, seeded.adv_a)]
    # Another advertiser's outcome cannot be retired from here.
    theirs = await _outcome(db, seeded.adv_b, "won")
    r = await client.post(
        "/dashboard/settings/outcomes", data={"csrf": csrf, "retire": str(theirs)}
    )
    assert r.status_code == 404
    # An administrator picks the advertiser first.
    await client.post("/logout", data={"csrf": csrf})
    await login(client, seeded.admin, PASSWORD)
    pick = await client.get("/dashboard/settings/outcomes")
    assert 'id="outcome-advertisers"' in pick.text
    one = await client.get(f"/dashboard/settings/outcomes?advertiser={seeded.adv_b}")
    assert one.status_code == 200 and 'id="outcomes"' in one.text


def test_values_are_checked() -> None:
    assert cw.clean_tags(" a ,b,a,, ") == ["a", "b"]
    for bad in (["x" * 41], "a\u202eb", [1]):
        with pytest.raises(cw.WorkError):
            cw.clean_tags(bad)


async def test_the_history_of_changes_reads_in_the_viewers_language(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    # It showed the stored column names (value_yen, qualified_by_hand), 0/1 and an
    # outcome's id, in Japanese as in English.
    csrf = await login(client, seeded.member_a, PASSWORD)
    call = seeded.calls_a[1]
    won = await _outcome(db, seeded.adv_a, "won")
    data = {
        "csrf": csrf,
        "qualified": "yes",
        "qualified_reason": "予約が入った",
        "outcome_id": str(won),
        "value_yen": "12000",
        "note": "折り返し希望",
    }
    assert (await client.post(f"/dashboard/calls/{call}/work", data=data)).status_code == 303
    page = (await client.get(f"/dashboard/calls/{call}", headers={"Accept-Language": "ja"})).text
    audit = page[page.index('id="work-audit"') :]
    audit = audit[: audit.index("</table>")]
    cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", audit)]
    for raw in ("value_yen", "qualified_by_hand", "qualified_reason", "outcome_id", "note"):
        assert raw not in cells, raw
    assert {"金額 (円)", "判定の手動設定", "判定の理由", "結果", "メモ"} <= set(cells)
    assert "はい" in cells and "成約" in cells and str(won) not in cells
    # Who: "user 7 (dashboard)" was the stored English.
    assert not any(c.startswith("user ") for c in cells)
    member = await db.fetchval("SELECT id FROM users WHERE email = :e", {"e": seeded.member_a})
    assert f"ユーザー {member} (ダッシュボード)" in cells
