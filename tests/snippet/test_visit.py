"""One visit per browser, numbers leased for what the page shows, and the DOM cases of
issue #16: editors, exclusions, tel: links, anti-flicker, titles, replaceState, iframes."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from attribution.tokens import SESSION_TOKEN, Signer
from tests.snippet.conftest import SnippetServer, Watched, seed_site
from tests.snippet.helpers import JP, SWAPPED, TWILIO_AUTH_TOKEN, US, hyphenated, swapped_visit
from tests.support.server import TEST_SECRET_KEY
from tests.telephony.conftest import call_params, sign

pytestmark = pytest.mark.e2e

# A site of 30 branches: targets 03-3000-0001 … 03-3000-0030, six tracking numbers each
# (enough for every visit of the module: leases last the test run).
MANY_KEY = "many"
MANY = [(f"+8133000{i:04d}", [f"+815099{i:02d}{k:04d}" for k in range(1, 7)]) for i in range(1, 31)]


# The same 30 branches on a site with one number per visitor (tracking 050-98xx-xxxx).
ONE_KEY = "one"
ONE = [(t, [f"+815098{i:02d}{k:04d}" for k in range(1, 7)]) for i, (t, _) in enumerate(MANY, 1)]


def session_id(token: str) -> int:
    value = Signer(TEST_SECRET_KEY, SESSION_TOKEN).read(token)
    assert isinstance(value, int)
    return value


def settle(page: Any, seconds: float = 0.5) -> None:
    """Give the page time to do anything it would do; nothing is asserted about timing."""
    page.wait_for_timeout(seconds * 1000)


def live_leases(server: SnippetServer, sid: int) -> int:
    rows = server.sql(
        "SELECT COUNT(*) FROM leases WHERE session_id = :s AND ended_ms IS NULL", {"s": sid}
    )
    return int(rows[0][0])


@pytest.fixture(scope="module")
def many_site(snippet_server: SnippetServer) -> SnippetServer:
    """The 30-target site next to the module's demo site, with a page showing 2 targets."""
    url = f"sqlite:///{snippet_server.db_path}"
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, seed_site(url, MANY_KEY, MANY)).result()
    return snippet_server


# ---- one visit per browser ------------------------------------------------------------------


def _call(server: SnippetServer, tracking: str, sid: str) -> None:
    """A call to ``tracking`` through the real Twilio webhook, signed as Twilio signs."""
    url = server.url + "/twilio/voice"
    params = call_params(sid=sid, to=tracking)
    signature = sign(url, params, TWILIO_AUTH_TOKEN)
    answer = httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=20)
    assert answer.status_code == 200 and "<Dial" in answer.text, answer.text


def test_an_ad_visitor_opens_a_new_tab_and_calls_from_it(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    landing = snippet_server.page_url("landing.html") + "?gclid=ad-click-16&utm_term=歯医者"
    w.page.goto(landing)
    w.page.wait_for_function(SWAPPED)
    # target=_blank: Chromium gives the new tab no copy of sessionStorage.
    with w.page.context.expect_page() as opened:
        w.page.click("#prices")
    tab = opened.value
    tab.wait_for_load_state()
    tab.wait_for_function(SWAPPED)
    tracking = str(tab.get_attribute("#tel", "href")).removeprefix("tel:")
    assert tab.text_content("#main") == w.page.text_content("#main") == hyphenated(tracking)

    _call(snippet_server, tracking, "CA" + "16" * 16)
    deadline = time.monotonic() + 20
    rows: list[tuple[Any, ...]] = []
    while not rows and time.monotonic() < deadline:
        rows = snippet_server.sql(
            "SELECT c.session_id, s.gclid, s.keyword FROM calls c"
            " JOIN sessions s ON s.id = c.session_id WHERE c.provider_call_id = :c",
            {"c": "CA" + "16" * 16},
        )
        time.sleep(0.2)
    assert rows, "the call was not matched to a session"
    ((sid, gclid, keyword),) = rows
    assert (gclid, keyword) == ("ad-click-16", "歯医者")
    # One session for both tabs: both asked with (or were given) the same token.
    tokens = {
        json.loads(r.post_data).get("token") for r in w.requests if r.url.endswith("/v1/session")
    }
    cookie = next(c for c in w.page.context.cookies() if c["name"] == "callpath.demo")
    assert session_id(cookie["value"]) == sid
    assert tokens <= {None, cookie["value"]}
    assert (
        snippet_server.sql("SELECT COUNT(*) FROM page_views WHERE session_id = :s", {"s": sid})[0][
            0
        ]
        == 2
    )


def test_the_cookie_holds_the_token_only_however_many_targets(
    many_site: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    w.page.goto(many_site.page_url("many-all.html"))
    w.page.wait_for_function("document.getElementById('b30').textContent !== '03-3000-0030'")
    cookie = next(c for c in w.page.context.cookies() if c["name"] == "callpath.many")
    assert session_id(cookie["value"]) > 0 and len(cookie["value"]) < 64
    assert "+81" not in w.page.evaluate("document.cookie")
    # A second tab of the 30-number visit continues it: same numbers, no new session.
    other = w.page.context.new_page()
    other.goto(many_site.page_url("many-all.html"))
    other.wait_for_function("document.getElementById('b30').textContent !== '03-3000-0030'")
    assert other.text_content("#b30") == w.page.text_content("#b30")
    assert (
        many_site.sql(
            "SELECT COUNT(*) FROM sessions s JOIN sites t ON t.id = s.site_id"
            " WHERE t.site_key = 'many'"
        )[0][0]
        >= 1
    )
    assert live_leases(many_site, session_id(cookie["value"])) == 30


def test_a_same_origin_iframe_shares_its_parents_visit(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, snippet_server, "frame.html")
    inner = w.page.frame_locator("#inner")
    frame = next(f for f in w.page.frames if f.url.endswith("framed=1"))
    frame.wait_for_function(SWAPPED)
    assert inner.locator("#main").text_content() == w.page.text_content("#main")
    settle(w.page)
    bodies = [json.loads(r.post_data) for r in w.calls("/v1/session")]
    cookie = next(c for c in w.page.context.cookies() if c["name"] == "callpath.demo")
    # The first request started the visit; anything after it continued that visit.
    assert "token" not in bodies[0]
    assert all(b.get("token") == cookie["value"] for b in bodies[1:])


# ---- lease on demand -----------------------------------------------------------------------------


def test_a_30_target_site_whose_page_shows_2_leases_2_numbers(
    many_site: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    with w.page.expect_response("**/v1/session") as answer:
        w.page.goto(many_site.page_url("many.html"))
    w.page.wait_for_function("document.getElementById('b1').textContent !== '03-3000-0001'")
    body = answer.value.json()
    assert sorted(s["target"] for s in body["swaps"]) == ["+81330000001", "+81330000002"]
    assert live_leases(many_site, session_id(body["token"])) == 2
    assert w.page.text_content("#other") == "03-1234-5678"  # another site's number


@pytest.fixture(scope="module")
def one_site(snippet_server: SnippetServer) -> SnippetServer:
    """The 30 branches again, on a site that gives one number per visitor (branch 3, the
    default target, supplies the numbers and takes calls of visitors not seen on a page)."""
    url = f"sqlite:///{snippet_server.db_path}"
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, seed_site(url, ONE_KEY, ONE, per_visitor=ONE[2][0])).result()
    return snippet_server


def _dialed(server: SnippetServer, tracking: str, sid: str) -> str:
    """The number a call to ``tracking`` is put through to (the TwiML's <Number>)."""
    url = server.url + "/twilio/voice"
    params = {
        "AccountSid": "AC" + "0" * 32,
        "CallSid": sid,
        "CallStatus": "ringing",
        "From": "+819012345678",
        "To": tracking,
    }
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, params)
    answer = httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=20)
    assert answer.status_code == 200, answer.text
    found = re.search(r"<Number[^>]*>([^<]+)</Number>", answer.text)
    assert found, answer.text
    return found.group(1)


def test_one_number_per_visitor_leases_1_and_calls_go_to_the_branch_seen_last(
    one_site: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    with w.page.expect_response("**/v1/session") as answer:
        w.page.goto(one_site.page_url("one.html"))
    w.page.wait_for_function("document.getElementById('b2').textContent !== '03-3000-0002'")
    body = answer.value.json()
    assert sorted(s["target"] for s in body["swaps"]) == ["+81330000001", "+81330000002"]
    assert len({s["number"] for s in body["swaps"]}) == 1
    tracking = body["swaps"][0]["number"]
    # Both branches show the visitor's one number, leased once.
    assert w.page.text_content("#b1") == w.page.text_content("#b2") == hyphenated(tracking)
    assert live_leases(one_site, session_id(body["token"])) == 1
    # The page showed branch 2 last: its call goes there, not to the pool's own branch.
    assert _dialed(one_site, tracking, "CA" + "1a" * 16) == "+81330000002"
    # The next page shows branch 1 only: the page view reports it, and calls follow.
    with w.page.expect_request(
        lambda r: r.url.endswith("/v1/heartbeat") and "url" in json.loads(r.post_data)
    ) as beat:
        w.page.goto(one_site.page_url("one-b1.html"))
    assert json.loads(beat.value.post_data)["seen"] == ["+81330000001"]
    w.page.wait_for_function("document.getElementById('b1').textContent !== '03-3000-0001'")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _last_target(one_site, body["token"]) != "+81330000001":
        time.sleep(0.1)
    assert _dialed(one_site, tracking, "CA" + "1b" * 16) == "+81330000001"
    # Without a known last target, the default target (branch 3) takes the call.
    one_site.sql(
        "UPDATE sessions SET last_target_id = NULL WHERE id = :s",
        {"s": session_id(body["token"])},
    )
    assert _dialed(one_site, tracking, "CA" + "1c" * 16) == "+81330000003"
    assert w.script_errors() == []


def _last_target(server: SnippetServer, token: str) -> str | None:
    rows = server.sql(
        "SELECT t.number FROM sessions s JOIN targets t ON t.id = s.last_target_id WHERE s.id = :s",
        {"s": session_id(token)},
    )
    return rows[0][0] if rows else None


# ---- the page: editors, exclusions, tel: links ------------------------------------------------


def test_editors_are_never_changed_and_non_editable_text_is(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, snippet_server, "editor.html")
    swapped = w.page.text_content("#main")
    page = w.page
    assert page.text_content("#ed-text") == "お電話 03-1234-5678"
    assert page.get_attribute("#ed-tel", "href") == "tel:0312345678"
    assert page.get_attribute("#ed-tel", "title") == "03-1234-5678"
    assert page.text_content("#ed-island") == "03-1234-5678"  # inside the editor
    assert page.text_content("#plain-editor") == "03-1234-5678"
    assert page.text_content("#not-editable") == swapped
    assert page.text_content("#skipped") == "03-1234-5678 電話"
    assert page.get_attribute("#skipped-tel", "href") == "tel:0312345678"


def test_tel_links_keep_extension_pause_and_post_dial_parts(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    with w.page.expect_response("**/v1/session") as answer:
        w.page.goto(snippet_server.page_url("tel.html"))
    w.page.wait_for_function(SWAPPED)
    numbers = {s["target"]: s["number"] for s in answer.value.json()["swaps"]}
    jp, us = numbers[JP], numbers[US]
    href = {
        i: w.page.get_attribute("#" + i, "href")
        for i in ("ext", "pause", "slashes", "postd", "us-ext")
    }
    assert href == {
        "ext": f"tel:{jp};ext=12",
        "pause": f"tel:{jp},123",
        "slashes": f"tel:{jp}",
        "postd": f"tel:{jp};postd=pp22",
        "us-ext": f"tel:{us};ext=7",
    }


# ---- anti-flicker ----------------------------------------------------------------------------


def test_hide_never_hides_the_body_and_removes_its_style(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, snippet_server, "hide-body.html")
    hidden = w.page.evaluate("hiddenTags")
    assert "P" in hidden and "BODY" not in hidden
    assert w.page.evaluate("document.querySelectorAll('style').length") == 0
    assert w.page.evaluate("document.querySelectorAll('[data-callpath-hide]').length") == 0


def test_a_malformed_answer_is_never_stored(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = visit()
    answered: list[int] = []

    def malformed_first(route: Any) -> None:
        if answered:
            route.continue_()
        else:
            answered.append(1)
            body = {"token": "x", "swaps": [{}], "ttl": 1800, "heartbeat": 1}
            route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    w.page.route("**/v1/session", malformed_first)
    w.page.goto(snippet_server.page_url("plain.html"))
    settle(w.page)
    assert w.page.text_content("#main") == "03-1234-5678"
    assert "swaps" not in (w.page.evaluate("sessionStorage.getItem('callpath.demo')") or "")
    # The next page view of the tab is not blocked by it: it asks again and swaps.
    with w.page.expect_response("**/v1/session"):
        w.page.goto(snippet_server.page_url("plain.html") + "?again=1")
    w.page.wait_for_function(SWAPPED)
    assert w.script_errors() == []


# ---- page views: titles, replaceState ---------------------------------------------------------


def test_titles_sent_are_the_pages_own(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, snippet_server, "titled.html")
    with w.page.expect_request(
        lambda r: r.url.endswith("/v1/heartbeat") and "url" in json.loads(r.post_data)
    ) as beat:
        w.page.goto(snippet_server.page_url("titled.html") + "?page=2")
        w.page.wait_for_function(SWAPPED)
    body = json.loads(beat.value.post_data)
    assert body["title"] == "ご予約 03-1234-5678"
    # The title element itself is never swapped (the tab shows the page's own title).
    assert w.page.title() == "ご予約 03-1234-5678"
    assert w.page.text_content("#main") != "03-1234-5678"
    sid = session_id(body["token"])
    titles = snippet_server.sql(
        "SELECT title FROM page_views WHERE session_id = :s ORDER BY id", {"s": sid}
    )
    assert [t for (t,) in titles] == ["ご予約 03-1234-5678"] * 2


def test_replace_state_typing_makes_no_page_views(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, snippet_server, "search.html")
    w.page.type(
        "#q", "歯医者 渋谷 土曜日 診療 予約 口コミ 評判 おすすめ 駅近 夜間 急患 対応 子供", delay=20
    )
    assert len(w.page.input_value("#q")) >= 33
    settle(w.page, 1.5)
    views = [
        r
        for r in w.requests
        if r.url.endswith("/v1/heartbeat") and "url" in json.loads(r.post_data)
    ]
    assert views == []
    assert len(w.calls("/v1/session")) == 1
    token = json.loads(w.calls("/v1/session")[0].response().body())["token"]
    count = snippet_server.sql(
        "SELECT COUNT(*) FROM page_views WHERE session_id = :s", {"s": session_id(token)}
    )
    assert count[0][0] == 1
    # A pushState route change still is one.
    with w.page.expect_request(
        lambda r: r.url.endswith("/v1/heartbeat") and "url" in json.loads(r.post_data)
    ):
        w.page.evaluate("history.pushState(null, '', '/examples/t/search.html/results')")


def test_route_changes_in_quick_succession_make_one_page_view(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, snippet_server, "plain.html")
    settle(w.page)
    # A router that pushes a route, then another, then rewrites it, within 100 ms.
    w.page.evaluate(
        "(async () => { for (const p of ['a', 'b', 'c', 'd']) {"
        " history.pushState(null, '', '/examples/t/route-' + p); await new Promise(r =>"
        " setTimeout(r, 25)) } history.replaceState(null, '', '/examples/t/route-e') })()"
    )
    settle(w.page, 2.5)
    views = [
        json.loads(r.post_data)
        for r in w.requests
        if r.url.endswith("/v1/heartbeat") and "url" in json.loads(r.post_data)
    ]
    assert [v["url"] for v in views] == [snippet_server.url + "/examples/t/route-e"]
    count = snippet_server.sql(
        "SELECT COUNT(*) FROM page_views WHERE session_id = :s",
        {"s": session_id(views[0]["token"])},
    )
    assert count[0][0] == 2


# ---- several site keys on one page ---------------------------------------------------------------


def test_a_page_with_two_site_keys_swaps_both_each_from_its_own_pool(
    many_site: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, many_site, "two-sites.html")
    w.page.wait_for_function("document.getElementById('b1').textContent !== '03-3000-0001'")
    sites = {json.loads(r.post_data)["site"] for r in w.calls("/v1/session")}
    assert sites == {"demo", "many"}
    demo = {hyphenated(n) for n in many_site.tracking[JP]}
    many = {hyphenated(n) for n in MANY[0][1]}
    assert w.page.text_content("#main") in demo
    assert w.page.text_content("#b1") in many
    names = {c["name"] for c in w.page.context.cookies()}
    assert {"callpath.demo", "callpath.many"} <= names
    # Consent given once (queued before either tag loaded) reached both tags, and a later
    # withdrawal reaches both too.
    w.page.evaluate("callpath('consent', false)")
    assert w.page.text_content("#main") == "03-1234-5678"
    assert w.page.text_content("#b1") == "03-3000-0001"
    assert w.script_errors() == []


# ---- JavaScript API ---------------------------------------------------------------------------


def test_numbers_and_swap_events_for_site_code(
    snippet_server: SnippetServer, visit: Callable[..., Watched]
) -> None:
    w = swapped_visit(visit, snippet_server, "api.html")
    swapped = w.page.text_content("#main")
    swaps = w.page.evaluate("callpath('numbers')")
    assert [s["target"] for s in swaps] == [JP]
    assert hyphenated(swaps[0]["number"]) == swapped
    assert {"number", "national", "international"} <= set(swaps[0])
    # The event queued before the tag loaded came after the swap, with the same numbers.
    w.page.wait_for_function("events.length > 0")
    events = w.page.evaluate("events")
    assert events[0]["shown"] == swapped and events[0]["swaps"] == swaps
    # A promise asked for before the answer resolves once the numbers are on the page.
    w2 = visit()
    w2.page.goto(snippet_server.page_url("api.html"))
    w2.page.evaluate(
        "new Promise(r => (function ask() { window['callpath.demo'] ?"
        " r(window.early = callpath('numbers').then(s => [s, "
        "document.getElementById('main').textContent])) : setTimeout(ask, 5) })())"
    )
    got, shown = w2.page.evaluate("window.early")
    assert [s["target"] for s in got] == [JP] and shown == hyphenated(got[0]["number"])
    assert w.script_errors() == [] and w2.script_errors() == []
