"""The call log, a call's page, the reports and the export by match confidence (#21)."""

from __future__ import annotations

import csv
import io

import httpx

from pool.store import Store
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded


async def _rate(db: Store, call_id: int, confidence: str, reason: str, ids: str) -> None:
    await db.execute(
        "UPDATE calls SET match_confidence = :c, match_reason = :r, match_candidate_ids = :i,"
        " match_candidates = :n WHERE id = :id",
        {"c": confidence, "r": reason, "i": ids, "n": ids.count(",") + 1, "id": call_id},
    )


async def test_call_log_reports_and_export_by_confidence(
    client: httpx.AsyncClient, seeded: Seeded, db: Store
) -> None:
    sure, unsure = seeded.calls_a[0], seeded.calls_a[1]
    session = seeded.session_a
    await _rate(db, sure, "high", "page_open", f"[{session}]")
    await _rate(db, unsure, "low", "late_call_window", f"[{session}, 987654]")
    await login(client, seeded.member_a, PASSWORD)

    log = (await client.get("/dashboard/calls")).text
    assert f'href="/dashboard/calls/{sure}"' in log and f'href="/dashboard/calls/{unsure}"' in log
    assert 'class="confidence c-low"' in log and 'class="confidence c-high"' in log
    high = (await client.get("/dashboard/calls", params={"confidence": "high"})).text
    assert f'href="/dashboard/calls/{sure}"' in high
    assert f'href="/dashboard/calls/{unsure}"' not in high
    # The filter is kept in the export links, and the export honours it.
    assert "confidence=high" in high
    low = (await client.get("/dashboard/calls", params={"confidence": "low"})).text
    assert f'href="/dashboard/calls/{unsure}"' in low

    page = (await client.get(f"/dashboard/calls/{unsure}")).text
    assert 'id="match-confidence">Low<' in page
    assert "within the late-call window" in page
    assert f"{session}" in page and "987654" in page

    everything = (await client.get("/dashboard?by=channel")).text
    confident = (await client.get("/dashboard?by=channel&confidence=high")).text
    assert everything != confident
    summary = await client.get("/dashboard/advertisers?confidence=low")
    assert summary.status_code == 200

    export = await client.get("/dashboard/calls/export", params={"confidence": "high"})
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {int(r["call_id"]) for r in rows} == {sure}
    assert rows[0]["match_confidence"] == "high" and rows[0]["match_reason"] == "page_open"
    assert rows[0]["match_candidate_ids"] == str(session)

    bad = await client.get("/dashboard/calls", params={"confidence": "certain"})
    assert bad.status_code == 400


def test_every_reason_method_and_confidence_reads_in_both_languages() -> None:
    from attribution.matching import CONFIDENCES, METHODS, REASONS
    from backend.dashboard import i18n

    for lang in i18n.LANGUAGES:
        t = i18n.translator(lang)
        keys = [f"reason.{r}" for r in REASONS] + [f"match.{m}" for m in METHODS]
        keys += [f"confidence.{c}" for c in CONFIDENCES]
        assert [k for k in keys if t(k) == k] == []
