"""``/metrics``: scraped with Prometheus's own text parser, and only by who may."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from backend.settings import Settings
from tests.observability.conftest import client_of, running
from tests.telephony.conftest import BASE, call_params, post_twilio, sign

BASE_VOICE = BASE + "/twilio/voice"
BOT = {"User-Agent": "Googlebot/2.1 (+http://www.google.com/bot.html)"}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, by name and labels, read by the official parser."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples named ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


async def _visit(client: httpx.AsyncClient, **headers: str) -> httpx.Response:
    body = {"site": "demo", "url": "http://127.0.0.1/examples/?gclid=abc", "referrer": ""}
    return await client.post("/v1/session", json=body, headers=headers)


async def test_metrics_are_read_by_the_prometheus_parser(
    client: httpx.AsyncClient, telephony: Any, demo: dict[str, Any], settings: Settings
) -> None:
    tracked = await _visit(client)
    assert tracked.status_code == 200 and tracked.json()["swaps"]
    assert (await _visit(client, **BOT)).json()["swaps"] == []
    r = await client.post("/v1/session", json={"site": "nope", "url": "http://x/"})
    assert r.status_code == 404
    r = await post_twilio(client, "/twilio/voice", call_params(sid="CA900"))
    assert r.status_code == 200
    # Signed with another token (a changed auth token): refused, counted apart.
    forged = call_params(sid="CA901")
    r = await client.post(
        "/twilio/voice", data=forged, headers={"X-Twilio-Signature": sign(BASE_VOICE, forged, "x")}
    )
    assert r.status_code == 403
    assert await telephony.recorder.drain(10)

    scrape = await client.get("/metrics")
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert scrape.headers["cache-control"] == "no-store"
    samples = parse(scrape.text)

    # Visits by outcome (this process), drops by reason (ingest_counters, store-wide).
    assert value(samples, "callpath_visits_total", outcome="tracked") == 1
    assert value(samples, "callpath_visits_total", outcome="dropped") == 1
    assert value(samples, "callpath_visits_total", outcome="unknown_site") == 1
    assert value(samples, "callpath_visits_total", outcome="storage_trouble") == 0
    assert value(samples, "callpath_ingest_drops_total", reason="bot") == 1
    assert value(samples, "callpath_ingest_drops_total", reason="unknown_site") == 1
    # Leases per pool: the tracked visit holds one number of each pool.
    pools = await telephony.recorder._db().fetchall("SELECT id FROM pools ORDER BY id")
    assert len(pools) == len(tracked.json()["swaps"])
    for p in pools:
        assert total(samples, "callpath_pool_leases_live", pool=str(p["id"])) == 1
        assert total(samples, "callpath_pool_numbers", pool=str(p["id"])) >= 1
        assert total(samples, "callpath_pool_exhausted_total", pool=str(p["id"])) == 0
    # Calls: the webhook's latency, the recorder, calls by status and match method.
    assert value(samples, "callpath_webhook_seconds_count", path="/twilio/voice") == 1
    assert value(samples, "callpath_webhook_seconds_bucket", path="/twilio/voice", le="+Inf") == 1
    refused = value(samples, "callpath_webhook_refused_total", path="/twilio/voice", status="403")
    assert refused == 1
    assert value(samples, "callpath_recorder_pending") == 0
    assert value(samples, "callpath_recorder_written_total") == 1
    assert total(samples, "callpath_calls_last_hour", status="ringing") == 1
    assert total(samples, "callpath_calls_created_total") == 1
    method = next(
        dict(ls)["match_method"]
        for (n, ls), v in samples.items()
        if n == "callpath_calls_last_hour" and v == 1
    )
    assert value(samples, "callpath_calls_created_total", match_method=method) == 1
    # Storage: units of work timed, failures counted, the store's own figures.
    assert value(samples, "callpath_storage_unit_seconds_count", kind="transact") >= 2
    assert value(samples, "callpath_storage_unit_seconds_count", kind="write") >= 1
    assert ("callpath_storage_failures_total", ()) not in samples  # labelled by where only
    if settings.database_url.startswith("sqlite"):
        assert value(samples, "callpath_sqlite_wal_bytes") > 0
        assert value(samples, "callpath_sqlite_wal_max_bytes") == settings.sqlite_wal_max_bytes
    else:
        assert value(samples, "callpath_pg_pool_connections") >= 1
        assert "callpath_sqlite_wal_bytes" not in {n for n, _ in samples}
    assert 0 <= value(samples, "callpath_store_figures_age_seconds") < 10
    assert value(samples, "process_open_fds") > 0


async def test_openmetrics_is_answered_when_asked_for(client: httpx.AsyncClient) -> None:
    r = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/openmetrics-text")
    assert r.text.rstrip().endswith("# EOF")


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden" and r.json()["error"]["status"] == 403
    assert "callpath_" not in r.text


async def test_metrics_are_refused_to_other_addresses_without_the_token(app: Starlette) -> None:
    async with client_of(app, "203.0.113.9") as outsider:
        _refused(await outsider.get("/metrics"))
        # No token is set: whatever one is sent does not open it.
        _refused(await outsider.get("/metrics", headers={"Authorization": "Bearer "}))
        _refused(await outsider.get("/metrics", headers={"Authorization": "Bearer x"}))
    async with client_of(app, "::1") as local:
        assert (await local.get("/metrics")).status_code == 200


async def test_the_token_opens_metrics_from_anywhere(settings: Settings) -> None:
    token = "metrics-token-0123456789abcdef"
    async with running(settings.replace(metrics_token=token, metrics_allowed_networks="")) as app:
        async with client_of(app, "203.0.113.9") as outsider:
            ok = await outsider.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200 and "callpath_visits_total" in ok.text
            _refused(await outsider.get("/metrics", headers={"Authorization": "Bearer wrong"}))
            _refused(await outsider.get("/metrics", headers={"Authorization": f"Basic {token}"}))
            _refused(await outsider.get("/metrics"))
        # An empty allow list lets no address in, loopback included.
        async with client_of(app) as local:
            _refused(await local.get("/metrics"))


async def test_a_proxy_on_loopback_does_not_make_everyone_local(app: Starlette) -> None:
    """nginx on the same host connects from 127.0.0.1: when it is not named a trusted
    proxy, its forwarded requests must not pass for a local scraper."""
    async with client_of(app, "127.0.0.1") as via_proxy:
        for header in ("X-Forwarded-For", "X-Real-IP", "Forwarded"):
            _refused(await via_proxy.get("/metrics", headers={header: "203.0.113.9"}))


async def test_behind_a_trusted_proxy_the_scrapers_own_address_counts(settings: Settings) -> None:
    trusted = settings.replace(trusted_proxies="127.0.0.1", metrics_allowed_networks="10.0.0.0/8")
    async with running(trusted) as app, client_of(app, "127.0.0.1") as proxy:
        ok = await proxy.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"})
        assert ok.status_code == 200
        _refused(await proxy.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}))
        # The proxy itself (loopback) is not in the allowed networks here.
        _refused(await proxy.get("/metrics"))


async def test_a_bad_allowed_network_stops_start_up(settings: Settings) -> None:
    from backend import create_app

    with pytest.raises(ValueError, match="METRICS_ALLOWED_NETWORKS"):
        create_app(settings.replace(metrics_allowed_networks="10.0.0.0/8, everyone"))


@pytest.mark.stores("postgresql")
async def test_metrics_answer_while_the_store_is_locked(
    client: httpx.AsyncClient, demo: dict[str, Any], app: Starlette
) -> None:
    """A table locked past the scrape's wait: /metrics still answers, with what the
    process knows, says the store figures are missing, and counts the trouble."""
    db = app.state.db
    async with db.pool.acquire() as locker:
        tx = locker.transaction()
        await tx.start()
        try:
            await locker.execute("LOCK TABLE pools IN ACCESS EXCLUSIVE MODE")
            r = await client.get("/metrics")
        finally:
            await tx.rollback()
    assert r.status_code == 200
    samples = parse(r.text)
    assert value(samples, "callpath_store_figures_age_seconds") == -1
    assert value(samples, "callpath_storage_failures_total", where="metrics") >= 1
    assert value(samples, "callpath_recorder_pending") == 0
    assert not any(n == "callpath_pool_leases_live" for n, _ in samples)
    # Once the lock is gone the next scrape reads the store again.
    samples = parse((await client.get("/metrics")).text)
    assert 0 <= value(samples, "callpath_store_figures_age_seconds") < 10
    assert any(n == "callpath_pool_leases_live" for n, _ in samples)


async def test_the_telephony_process_has_metrics_of_its_own(settings: Settings) -> None:
    """`--telephony-port` runs a process that answers the carriers: its recorder's figures
    are on its own /metrics."""
    async with running(settings.replace(role="telephony")) as app, client_of(app) as local:
        r = await local.get("/metrics")
        assert r.status_code == 200
        samples = parse(r.text)
        info = [dict(ls) for n, ls in samples if n == "callpath_process_info"]
        assert len(info) == 1 and info[0]["role"] == "telephony"
        assert value(samples, "callpath_recorder_pending") == 0
        assert (await local.post("/v1/session", json={})).status_code == 404
