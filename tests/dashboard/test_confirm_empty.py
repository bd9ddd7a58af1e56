"""No destructive action in one click, and no empty list without a word on what to do.

Every form that retires, deletes, stops, revokes or voids (found from the route table, on
every dashboard page) sits inside a ``details.confirm`` step; the pages of a new install
say what is missing and link to where it is done, in English and Japanese."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import httpx
import pytest
from starlette.routing import Route

from backend import accounts
from backend.dashboard import i18n
from backend.dashboard.routes import routes as dashboard_routes
from pool.store import Store, now_ms
from tests.dashboard.conftest import login
from tests.dashboard.seed import PASSWORD, Seeded
from tests.support.dashboard_pages import dashboard_pages

DESTRUCTIVE = ("/retire", "/delete", "/remove", "/revoke", "/void")


def _destructive_routes() -> list[str]:
    return [
        r.path
        for r in dashboard_routes
        if isinstance(r, Route) and r.path.endswith(DESTRUCTIVE) and "POST" in (r.methods or ())
    ]


class _Forms(HTMLParser):
    """Each form's action, and whether it sits inside an open ``details.confirm``."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[bool] = []  # one entry per open <details>: is it a confirm step?
        self.forms: list[tuple[str, bool, str]] = []  # (action, confirmed, button class)
        self._form: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "details":
            self.stack.append("confirm" in (a.get("class") or "").split())
        elif tag == "form":
            self._form = a.get("action") or ""
        elif tag == "button" and self._form is not None:
            self.forms.append((self._form, any(self.stack), a.get("class") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "details" and self.stack:
            self.stack.pop()
        elif tag == "form":
            self._form = None


def _matches(route: str, action: str) -> bool:
    """Whether the form's ``action`` is a path of ``route`` (every ``{name:int}`` a number)."""
    parts = re.split(r"\{\w+:int\}", route)
    return re.fullmatch(r"\d+".join(map(re.escape, parts)), action) is not None


async def test_every_destructive_form_asks_first(client: httpx.AsyncClient, seeded: Seeded) -> None:
    routes = _destructive_routes()
    assert len(routes) >= 6  # retire, rule delete, unblock, stop notifying, revoke, void
    await login(client, seeded.admin, PASSWORD)
    seen: dict[str, int] = {r: 0 for r in routes}
    for path in dashboard_pages(seeded, variants=False):
        page = await client.get(path)
        assert page.status_code == 200, path
        parser = _Forms()
        parser.feed(page.text)
        for action, confirmed, button in parser.forms:
            for route in routes:
                if _matches(route, action):
                    assert confirmed, f"{path}: {action} posts in one click"
                    assert "danger-solid" in button, (path, action)
                    seen[route] += 1
    # The seeded data shows a form for every destructive route: none was missed.
    assert all(seen.values()), seen


async def test_disabling_a_user_asks_first(client: httpx.AsyncClient, seeded: Seeded) -> None:
    await login(client, seeded.admin, PASSWORD)
    page = (await client.get("/dashboard/settings/users")).text
    t = i18n.translator("en")
    boxes = [line for line in page.splitlines() if 'name="disabled"' in line]
    assert boxes
    # Every active user other than the viewer: ticking the box asks before saving.
    asked = [b for b in boxes if "data-confirm=" in b]
    assert asked and all(t("confirm.disable_user").split("{")[0] in unescape(b) for b in asked)
    assert all("checked" in b for b in boxes if "data-confirm=" not in b)


EMPTY_PAGES = {
    "/dashboard": ("report-empty", "empty.report", "/dashboard/settings/sites"),
    "/dashboard/calls": ("calls-empty", "empty.calls", "/dashboard/settings/numbers"),
    "/dashboard/advertisers": ("advertisers-empty", "empty.advertisers", "#new-advertiser"),
    "/dashboard/pools": ("pools-empty", "empty.pools", "/dashboard/settings/sites"),
    "/dashboard/settings/sites": ("sites-empty", "empty.sites", "#new-site"),
    "/dashboard/settings/numbers": ("numbers-empty", "empty.numbers", "#bulk-form"),
    "/dashboard/settings/blocked": ("blocked-empty", "empty.blocked", "#add-blocked"),
    "/dashboard/settings/notifications": (
        "notify-empty",
        "empty.notifications",
        "#add-notification",
    ),
    "/dashboard/settings/tokens": ("tokens-empty", "empty.tokens", "#new-token-form"),
    "/dashboard/conversions/batches": ("batches-empty", "empty.batches", ""),
}


@pytest.mark.parametrize("lang", ["en", "ja"])
async def test_empty_lists_say_what_to_do(client: httpx.AsyncClient, db: Store, lang: str) -> None:
    async with db.write() as tx:
        await accounts.create_user(
            tx, email="owner@example.jp", password=PASSWORD, role="admin", now_ms=now_ms()
        )
    await login(client, "owner@example.jp", PASSWORD)
    t = i18n.translator(lang)
    headers = {"accept-language": lang}
    for path, (element, key, href) in EMPTY_PAGES.items():
        page = await client.get(path, headers=headers)
        assert page.status_code == 200, (path, page.status_code)
        text = unescape(page.text)
        assert f'id="{element}"' in text, path
        assert t(key) != key and t(key) in text, (path, key)
        if href:
            assert f'href="{href}"' in text, (path, href)
            assert href.startswith("/") or f'id="{href[1:]}"' in text  # the anchor exists
    # A site with no business number yet, and no source rule.
    async with db.write() as tx:
        adv = await accounts.create_advertiser(tx, "First clinic", now_ms())
        site = await accounts.create_site(
            tx,
            advertiser_id=adv,
            site_key="first",
            name="First clinic",
            domains=["first.example.jp"],
            now_ms=now_ms(),
        )
    page = unescape((await client.get(f"/dashboard/settings/sites/{site}", headers=headers)).text)
    assert 'id="targets-empty"' in page and t("empty.targets") in page
    rules = await client.get(f"/dashboard/settings/sites/{site}/rules", headers=headers)
    assert 'id="rules-empty"' in rules.text
    # With an advertiser and a site, those pages show their lists instead.
    sites = (await client.get("/dashboard/settings/sites", headers=headers)).text
    assert 'id="sites-empty"' not in sites and "First clinic" in sites
