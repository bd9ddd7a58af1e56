"""Fixed codes for offline media on one shared number (flyer A = 11, radio = 12), managed
over the API and the CLI, and a site's visit-code switch over the API (issue #21): calls
with a code are credited to the code's medium in the call log, the API, reports and
exports."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx

from backend.settings import Settings
from pool.store import Store
from tests.support.server import run_cli
from tests.support.twilio import TwilioStandIn, attributes, verbs
from tests.telephony.conftest import AUTH_TOKEN, BASE, TARGET

SHARED = "+815017009999"
CALLER = "+819012345678"


async def _shared_number(client: httpx.AsyncClient, auth: dict[str, str]) -> int:
    r = await client.post(
        "/api/numbers",
        json={
            "number": SHARED,
            "kind": "source",
            "site": "demo",
            "target": TARGET,
            "label": "offline",
        },
        headers=auth,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["number"]["id"])


async def test_fixed_codes_credit_the_call_to_their_medium(
    tclient: httpx.AsyncClient, telephony: Any, db: Store, demo: dict[str, Any]
) -> None:
    auth = {"Authorization": f"Bearer {demo['api_token']}"}
    number_id = await _shared_number(tclient, auth)
    path = f"/api/numbers/{number_id}/codes"
    for code, label, campaign in (("11", "flyer A", "spring"), ("12", "radio", "FM")):
        r = await tclient.post(
            path, json={"code": code, "source_label": label, "campaign": campaign}, headers=auth
        )
        assert r.status_code == 201, r.text
        assert r.json()["code"]["code"] == code
    # Bad input: clear 422s.
    for body in ({"code": "11"}, {"code": "1a"}, {"code": "123"}, {"code": 11}, {"x": "1"}):
        r = await tclient.post(path, json=body, headers=auth)
        assert r.status_code == 422, (body, r.text)
    pool_number = demo["targets"][0]["tracking_numbers"][0]
    pool_id = await db.fetchval(
        "SELECT id FROM tracking_numbers WHERE number = :n", {"n": pool_number}
    )
    r = await tclient.post(f"/api/numbers/{pool_id}/codes", json={"code": "11"}, headers=auth)
    assert r.status_code == 422 and "source number" in r.json()["error"]["message"]
    listed = (await tclient.get(path, headers=auth)).json()["codes"]
    assert [(c["code"], c["source_label"]) for c in listed] == [("11", "flyer A"), ("12", "radio")]

    await telephony.table.load()
    assert telephony.table.listening(SHARED) == 2
    twilio = TwilioStandIn(tclient, AUTH_TOKEN, BASE)
    call = await twilio.call(to=SHARED, caller=CALLER, sid="CAFLYER", post_dial="11", pause_s=1)
    assert verbs(call) == [["Gather", "Redirect"], ["Dial"]]
    assert attributes(call, "Gather")["numDigits"] == "2"
    assert call.dialled == TARGET
    plain = await twilio.call(to=SHARED, caller="+819011112222", sid="CAPLAIN2")
    assert plain.dialled == TARGET and plain.waited_s == 2
    assert await telephony.recorder.drain(10)

    row = await db.fetchone(
        "SELECT id, match_method, match_confidence, match_reason, code_digits, code_kind,"
        " touch_source, touch_campaign, touch_channel FROM calls WHERE provider_call_id = 'CAFLYER'"
    )
    assert (row["match_method"], row["match_confidence"], row["match_reason"]) == (
        "code",
        "exact",
        "fixed_code",
    )
    assert (row["code_digits"], row["code_kind"]) == ("11", "fixed")
    assert (row["touch_source"], row["touch_campaign"], row["touch_channel"]) == (
        "flyer A",
        "spring",
        "offline",
    )
    assert (
        await db.fetchval("SELECT match_method FROM calls WHERE provider_call_id = 'CAPLAIN2'")
        == "static_source"
    )

    # The API, the export and the report show it.
    detail = (await tclient.get(f"/api/calls/{row['id']}", headers=auth)).json()
    assert (detail["code_digits"], detail["code_kind"]) == ("11", "fixed")
    assert detail["touch"]["source"] == "flyer A"
    text = (await tclient.get("/api/exports/paths?format=csv", headers=auth)).text
    exported = [r for r in csv.DictReader(io.StringIO(text)) if r["code_digits"]]
    assert [(r["code_digits"], r["code_kind"], r["source"], r["campaign"]) for r in exported] == [
        ("11", "fixed", "flyer A", "spring")
    ]
    report = await tclient.get("/api/reports/calls?dimension=source", headers=auth)
    by_source = {r["key"]: r["calls"] for r in report.json()["data"]}
    assert by_source.get("flyer A") == 1, report.json()

    # Taken back: the number no longer carries it.
    code_id = listed[0]["id"]
    assert (await tclient.delete(f"{path}/{code_id}", headers=auth)).status_code == 204
    assert (await tclient.delete(f"{path}/{code_id}", headers=auth)).status_code == 404
    assert [c["code"] for c in (await tclient.get(path, headers=auth)).json()["codes"]] == ["12"]


async def test_visit_codes_switch_over_the_api(
    tclient: httpx.AsyncClient, db: Store, demo: dict[str, Any]
) -> None:
    auth = {"Authorization": f"Bearer {demo['api_token']}"}
    site = await db.fetchval("SELECT id FROM sites WHERE site_key = 'demo'")
    path = f"/api/sites/{site}/visit-codes"
    assert (await tclient.get(path, headers=auth)).json() == {"enabled": False}
    r = await tclient.put(path, json={"enabled": True}, headers=auth)
    assert r.status_code == 200 and r.json() == {"enabled": True}
    assert (await tclient.get(path, headers=auth)).json() == {"enabled": True}
    for body in ({"enabled": "yes"}, {}, {"enabled": True, "x": 1}):
        assert (await tclient.put(path, json=body, headers=auth)).status_code == 422
    assert (await tclient.get(path)).status_code == 401


def test_fixed_codes_from_the_cli(settings: Settings, tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert run_cli("demo", "--json", database_url=url).returncode == 0
    added = run_cli(
        "numbers",
        "add",
        SHARED,
        "--site",
        "demo",
        "--kind",
        "source",
        "--target",
        TARGET,
        "--label",
        "offline",
        database_url=url,
    )
    assert added.returncode == 0, added.stderr
    out = run_cli(
        "numbers",
        "codes",
        SHARED,
        "--add",
        "11",
        "--label",
        "flyer A",
        "--campaign",
        "spring",
        database_url=url,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["11", "flyer", "A", "spring"]
    again = run_cli("numbers", "codes", SHARED, "--add", "11", database_url=url)
    assert again.returncode == 1 and "already given" in again.stderr
    gone = run_cli("numbers", "codes", SHARED, "--delete", "11", database_url=url)
    assert gone.returncode == 0 and gone.stdout == ""
