"""Recorded conversion batches: listed in scope, downloaded again byte for byte, voided."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from backend import accounts
from backend.settings import Settings
from backend.storage import SQLiteDatabase
from tests.api.conftest import World
from tests.support.server import run_cli

URL = "/api/exports/conversions/{}?start=2026-11-01&end=2026-11-30"
BATCHES = "/api/conversions/batches"


async def _export(
    client: httpx.AsyncClient, world: World, platform: str, token: str
) -> httpx.Response:
    r = await client.post(URL.format(platform), headers=world.auth(token))
    assert r.status_code == 200, r.text
    return r


async def test_a_batch_is_listed_and_downloaded_again_byte_for_byte(
    client: httpx.AsyncClient, world: World
) -> None:
    first = await _export(client, world, "google", world.member_token)
    assert first.headers["x-callpath-conversions"] == "1"
    member_batch = int(first.headers["x-callpath-batch-id"])
    yahoo = await _export(client, world, "yahoo", world.admin_token)
    admin_batch = int(yahoo.headers["x-callpath-batch-id"])
    # An export that writes nothing records no batch.
    empty = await _export(client, world, "google", world.member_token)
    assert empty.headers["x-callpath-conversions"] == "0"
    assert "x-callpath-batch-id" not in empty.headers

    mine = (await client.get(BATCHES, headers=world.auth(world.member_token))).json()
    assert [b["id"] for b in mine["data"]] == [member_batch]
    b = mine["data"][0]
    assert b["platform"] == "google" and b["rows"] == 1 and b["voided"] is False
    assert b["advertiser_id"] == world.other_advertiser_id and b["has_file"] is True
    assert b["created_by"].startswith("user ") and b["batch"] == first.headers["x-callpath-batch"]
    every = (await client.get(BATCHES, headers=world.auth())).json()
    assert [b["id"] for b in every["data"]] == [admin_batch, member_batch]
    only = await client.get(BATCHES + "?platform=yahoo", headers=world.auth())
    assert [b["id"] for b in only.json()["data"]] == [admin_batch]

    # Downloaded again: the same bytes, the same type (Shift_JIS stays Shift_JIS).
    for batch_id, original, token in (
        (member_batch, first, world.member_token),
        (admin_batch, yahoo, world.admin_token),
    ):
        again = await client.get(f"{BATCHES}/{batch_id}/file", headers=world.auth(token))
        assert again.status_code == 200
        assert again.content == original.content
        assert again.headers["content-type"] == original.headers["content-type"]
        assert again.headers["content-disposition"] == original.headers["content-disposition"]

    shown = await client.get(f"{BATCHES}/{member_batch}", headers=world.auth(world.member_token))
    rows = shown.json()["rows"]
    assert [(r["click_id"], r["site_id"]) for r in rows] == [("other-gclid", world.other_site_id)]
    assert isinstance(rows[0]["started_ms"], int) and rows[0]["call_id"] > 0


async def test_a_member_never_reaches_another_advertisers_batch(
    client: httpx.AsyncClient, world: World
) -> None:
    admin = await _export(client, world, "google", world.admin_token)
    batch_id = int(admin.headers["x-callpath-batch-id"])
    member = world.auth(world.member_token)
    assert (await client.get(BATCHES, headers=member)).json()["data"] == []
    for path in (f"{BATCHES}/{batch_id}", f"{BATCHES}/{batch_id}/file"):
        r = await client.get(path, headers=member)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.post(f"{BATCHES}/{batch_id}/void", headers=member)
    assert r.status_code == 404
    # Nothing was released: the admin's next export is still empty.
    again = await _export(client, world, "google", world.admin_token)
    assert again.headers["x-callpath-conversions"] == "0"
    # Asking for another advertiser's list is refused outright.
    r = await client.get(f"{BATCHES}?advertiser_id={world.advertiser_id}", headers=member)
    assert r.status_code == 403


async def test_voiding_releases_the_calls_once_and_read_only_tokens_cannot(
    client: httpx.AsyncClient, world: World, db: SQLiteDatabase
) -> None:
    first = await _export(client, world, "microsoft", world.admin_token)
    batch_id = int(first.headers["x-callpath-batch-id"])
    async with db.write() as tx:
        user = await db.fetchval("SELECT id FROM users WHERE role = 'admin' ORDER BY id LIMIT 1")
        reader = await accounts.create_api_token(
            tx, user_id=user, advertiser_id=None, name="ro", now_ms=1, read_only=True
        )
    r = await client.post(f"{BATCHES}/{batch_id}/void", headers=world.auth(reader))
    assert r.status_code == 403
    assert (await client.get(BATCHES, headers=world.auth(reader))).status_code == 200

    r = await client.post(f"{BATCHES}/{batch_id}/void", headers=world.auth())
    assert r.status_code == 200, r.text
    voided = r.json()
    assert voided["voided"] is True and voided["voided_by"].startswith("user ")
    assert voided["voided_ms"] >= voided["created_ms"]
    again = await client.post(f"{BATCHES}/{batch_id}/void", headers=world.auth())
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_voided"
    # Released: the next export takes the calls again, in a new batch, then never again.
    redo = await _export(client, world, "microsoft", world.admin_token)
    assert redo.headers["x-callpath-conversions"] == first.headers["x-callpath-conversions"]
    assert redo.content.split(b"\r\n")[2:] == first.content.split(b"\r\n")[2:]
    assert redo.headers["x-callpath-batch-id"] != str(batch_id)
    empty = await _export(client, world, "microsoft", world.admin_token)
    assert empty.headers["x-callpath-conversions"] == "0"
    # The voided batch stays listed, with its file and rows.
    listed = (await client.get(BATCHES, headers=world.auth())).json()["data"]
    assert [(b["id"], b["voided"]) for b in listed][-1] == (batch_id, True)
    kept = await client.get(f"{BATCHES}/{batch_id}/file", headers=world.auth())
    assert kept.content == first.content


async def test_a_batch_recorded_before_files_were_kept_is_voidable_not_downloadable(
    client: httpx.AsyncClient, world: World, db: SQLiteDatabase
) -> None:
    call_id = world.calls[next(iter(world.calls))]
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO conversion_ledger (platform, call_id, click_id, batch, exported_ms)"
            " VALUES ('google', :c, 'x', 'old-batch', 5)",
            {"c": call_id},
        )
        batch_id = await tx.fetchval(
            "INSERT INTO conversion_batches (platform, batch, row_count, created_ms)"
            " VALUES ('google', 'old-batch', 1, 5) RETURNING id"
        )
    r = await client.get(f"{BATCHES}/{batch_id}/file", headers=world.auth())
    assert r.status_code == 410 and r.json()["error"]["code"] == "file_not_kept"
    assert (
        await client.post(f"{BATCHES}/{batch_id}/void", headers=world.auth())
    ).status_code == 200
    left = await db.fetchval("SELECT COUNT(*) FROM conversion_ledger WHERE batch = 'old-batch'")
    assert left == 0


async def test_batch_list_pages_with_a_cursor(client: httpx.AsyncClient, world: World) -> None:
    ids = []
    for platform in ("google", "yahoo", "microsoft"):
        r = await _export(client, world, platform, world.admin_token)
        ids.append(int(r.headers["x-callpath-batch-id"]))
    page = (await client.get(BATCHES + "?limit=2", headers=world.auth())).json()
    assert [b["id"] for b in page["data"]] == ids[::-1][:2]
    rest = await client.get(
        BATCHES + "?limit=2&cursor=" + page["next_cursor"], headers=world.auth()
    )
    assert [b["id"] for b in rest.json()["data"]] == [ids[0]]
    assert rest.json()["next_cursor"] is None
    bad = await client.get(BATCHES + "?cursor=forged", headers=world.auth())
    assert bad.status_code == 400


@pytest.mark.stores("sqlite")  # the CLI runs the same domain code the store tests cover
async def test_cli_lists_downloads_and_voids_batches(
    db: SQLiteDatabase, world: World, settings: Settings, tmp_path: Path
) -> None:
    url = settings.database_url
    first = tmp_path / "google.csv"
    r = run_cli("export", "google", "--from", "2026-11-01", "-o", str(first), database_url=url)
    assert r.returncode == 0, r.stderr
    batch_id = int(r.stderr.split(", id ")[1].split(")")[0])
    listed = run_cli("export", "batches", "list", database_url=url)
    assert listed.returncode == 0, listed.stderr
    line = listed.stdout.strip().splitlines()[0].split("\t")
    assert line[0] == str(batch_id) and line[1] == "google" and line[-1] == "active"
    assert line[3] == "3 rows" and line[-2] == "cli"
    # Scoped to the other advertiser, the all-advertisers batch is not there.
    scoped = run_cli(
        "export",
        "batches",
        "list",
        "--advertiser",
        str(world.other_advertiser_id),
        database_url=url,
    )
    assert scoped.stdout == ""
    shown = run_cli("export", "batches", "show", str(batch_id), database_url=url)
    assert "other-gclid" in shown.stdout and "Cj0KCQ-test-gclid" in shown.stdout
    again = tmp_path / "again.csv"
    r = run_cli("export", "batches", "download", str(batch_id), "-o", str(again), database_url=url)
    assert r.returncode == 0, r.stderr
    assert again.read_bytes() == first.read_bytes()
    r = run_cli("export", "batches", "void", str(batch_id), database_url=url)
    assert r.returncode == 0 and "voided batch" in r.stdout
    r = run_cli("export", "batches", "void", str(batch_id), database_url=url)
    assert r.returncode == 1 and "voided before" in r.stderr
    assert run_cli("export", "batches", "show", "999", database_url=url).returncode == 1
    assert run_cli("export", "batches", "void", database_url=url).returncode == 2
    redo = run_cli("export", "google", "--from", "2026-11-01", database_url=url)
    assert "exported 3 conversions" in redo.stderr
