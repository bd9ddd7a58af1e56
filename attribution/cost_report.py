"""Ad cost kept and set against calls: imports, and cost per call, per qualified call, ROAS.

:func:`import_costs` stores a parsed report (:mod:`attribution.costs`) for an advertiser
(and optionally one of its sites): the same day and key imported again replaces its
figures, so a report downloaded again corrects the first one and reports of several
accounts add up. :func:`cost_report` puts the cost of a period beside the calls of the same
period, per source, campaign or keyword:

- A platform's cost belongs to the source its clicks are classified under (the registry's
  ``classification.source``: ``google``, ``yahoo``, ``bing``...).
- A call counts for the touch frozen on it (``calls.touch_*``): its source, campaign and
  keyword. A campaign given by id (ValueTrack ``{campaignid}`` tagged as utm_campaign) joins
  the cost rows carrying that id, and is shown by the name the report gave it.
- Keywords are joined by :func:`attribution.costs.keyword_key` (case, width and match-type
  marks ignored) within their source, so Google's and Yahoo!'s rows of one keyword stay
  apart. The ``keyword_match`` level also splits by match type (exact, phrase, broad): for
  sites whose ad URLs carry ValueTrack's ``{matchtype}``; a call without it has a row of
  its own there (match type ''), as the platform cannot say which of its rows it came from.
- Money stays integer: cost is kept in micros and shown in whole units of the currency
  (JPY: yen), rounded half up; cost per call is rounded the same way; ROAS is the value of
  the calls (``calls.value_yen``) over the cost, in per cent, to one decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from attribution import platforms
from attribution.costs import CostFile, keyword_key
from attribution.exports import confidence_clause
from pool.scope import Scope
from pool.store import Store, from_row

LEVELS = ("source", "campaign", "keyword", "keyword_match")
_MICROS = 1_000_000


@dataclass(frozen=True)
class CostImport:
    """One file given: what it held and who gave it."""

    id: int
    advertiser_id: int
    site_id: int | None
    platform: str
    filename: str
    encoding: str
    currency: str
    rows: int
    skipped_rows: int
    first_day: str
    last_day: str
    cost_micros: int
    created_ms: int
    created_by: str

    @property
    def cost(self) -> int:
        """The file's total cost in whole currency units."""
        return units(self.cost_micros)

    def as_json(self) -> dict[str, Any]:
        """The import as the API gives it (cost in whole currency units)."""
        return {
            "id": self.id,
            "advertiser_id": self.advertiser_id,
            "site_id": self.site_id,
            "platform": self.platform,
            "filename": self.filename,
            "encoding": self.encoding,
            "currency": self.currency,
            "rows": self.rows,
            "skipped_rows": self.skipped_rows,
            "first_day": self.first_day,
            "last_day": self.last_day,
            "cost": self.cost,
            "created_ms": self.created_ms,
            "created_by": self.created_by,
        }


def units(micros: int) -> int:
    """Whole currency units of ``micros``, rounded half up (integers only)."""
    return (micros + _MICROS // 2) // _MICROS


def _import_of(row: Any) -> CostImport:
    return from_row(CostImport, {**row, "site_id": int(row["site_id"]) or None})


_UPSERT = (
    "INSERT INTO ad_costs (import_id, advertiser_id, site_id, platform, source, day,"
    " campaign_id, campaign, ad_group_id, ad_group, keyword, match_type, impressions, clicks,"
    " cost_micros) VALUES (:import_id, :advertiser_id, :site_id, :platform, :source, :day,"
    " :campaign_id, :campaign, :ad_group_id, :ad_group, :keyword, :match_type, :impressions,"
    " :clicks, :cost_micros)"
    " ON CONFLICT (advertiser_id, site_id, platform, day, campaign_id, campaign, ad_group_id,"
    " ad_group, keyword, match_type) DO UPDATE SET import_id = excluded.import_id,"
    " impressions = excluded.impressions, clicks = excluded.clicks,"
    " cost_micros = excluded.cost_micros"
)


async def import_costs(
    db: Store,
    parsed: CostFile,
    *,
    advertiser_id: int,
    site_id: int | None,
    platform: str,
    filename: str,
    by: str,
    now_ms: int,
) -> CostImport:
    """Store a parsed report for the advertiser (and site), in one unit of work.

    ``platform`` is a registry key (:class:`attribution.platforms.UnknownPlatform`
    otherwise). Rows of one key repeated in the file (a report listing a keyword in two ad
    groups of one name) are added together. Raises LookupError when the site is not the
    advertiser's.
    """
    source = platforms.get(platform).classification.source
    merged: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in parsed.rows:
        key = (
            r.day.isoformat(),
            r.campaign_id,
            r.campaign,
            r.ad_group_id,
            r.ad_group,
            r.keyword,
            r.match_type,
        )
        row = merged.get(key)
        if row is None:
            merged[key] = {
                "day": key[0],
                "campaign_id": r.campaign_id,
                "campaign": r.campaign,
                "ad_group_id": r.ad_group_id,
                "ad_group": r.ad_group,
                "keyword": r.keyword,
                "match_type": r.match_type,
                "impressions": r.impressions,
                "clicks": r.clicks,
                "cost_micros": r.cost_micros,
            }
        else:
            for name in ("impressions", "clicks", "cost_micros"):
                row[name] += getattr(r, name)
    async with db.write() as tx:
        if site_id is not None:
            owner = await tx.fetchval(
                "SELECT advertiser_id FROM sites WHERE id = :id", {"id": site_id}
            )
            if owner is None or int(owner) != advertiser_id:
                raise LookupError(f"No site {site_id} of advertiser {advertiser_id}.")
        import_id = await tx.fetchval(
            "INSERT INTO ad_cost_imports (advertiser_id, site_id, platform, filename, encoding,"
            " currency, rows, skipped_rows, first_day, last_day, cost_micros, created_ms,"
            " created_by) VALUES (:advertiser_id, :site_id, :platform, :filename, :encoding,"
            " :currency, :rows, :skipped, :first_day, :last_day, :cost, :now, :by) RETURNING id",
            {
                "advertiser_id": advertiser_id,
                "site_id": site_id or 0,
                "platform": platform,
                "filename": filename[:200],
                "encoding": parsed.encoding,
                "currency": parsed.currency,
                "rows": len(parsed.rows),
                "skipped": parsed.skipped_summary_rows,
                "first_day": parsed.first_day.isoformat() if parsed.first_day else "",
                "last_day": parsed.last_day.isoformat() if parsed.last_day else "",
                "cost": parsed.cost_micros,
                "now": now_ms,
                "by": by[:200],
            },
        )
        common = {
            "import_id": import_id,
            "advertiser_id": advertiser_id,
            "site_id": site_id or 0,
            "platform": platform,
            "source": source,
        }
        await tx.executemany(_UPSERT, [{**common, **row} for row in merged.values()])
        stored = await tx.fetchone(
            "SELECT * FROM ad_cost_imports WHERE id = :id", {"id": import_id}
        )
    assert stored is not None
    return _import_of(stored)


async def list_imports(db: Store, scope: Scope, *, limit: int = 100) -> list[CostImport]:
    """The imports in ``scope``, newest first."""
    where, params = scope.condition("i", site=None)
    rows = await db.fetchall(
        f"SELECT * FROM ad_cost_imports i WHERE {where} ORDER BY i.id DESC LIMIT :limit",
        {**params, "limit": limit},
    )
    return [_import_of(r) for r in rows]


@dataclass
class CostRow:
    """One row of the cost report (money in whole currency units)."""

    source: str
    campaign: str = ""
    keyword: str = ""
    match_type: str = ""
    impressions: int = 0
    clicks: int = 0
    cost_micros: int = 0
    calls: int = 0
    qualified_calls: int = 0
    value: int = 0

    @property
    def cost(self) -> int:
        """The cost in whole currency units."""
        return units(self.cost_micros)

    @property
    def cost_per_call(self) -> int | None:
        """Cost over calls, rounded half up (None without calls)."""
        return _per(self.cost_micros, self.calls)

    @property
    def cost_per_qualified_call(self) -> int | None:
        """Cost over qualified calls, rounded half up (None without any)."""
        return _per(self.cost_micros, self.qualified_calls)

    @property
    def roas(self) -> float | None:
        """Value over cost in per cent, to one decimal (None without cost)."""
        if not self.cost_micros:
            return None
        tenths = (self.value * _MICROS * 1000 * 2 + self.cost_micros) // (2 * self.cost_micros)
        return tenths / 10

    def as_json(self) -> dict[str, Any]:
        """The row as the API and the CSV give it."""
        return {
            "source": self.source,
            "campaign": self.campaign,
            "keyword": self.keyword,
            "match_type": self.match_type,
            "impressions": self.impressions,
            "clicks": self.clicks,
            "cost": self.cost,
            "calls": self.calls,
            "qualified_calls": self.qualified_calls,
            "cost_per_call": self.cost_per_call,
            "cost_per_qualified_call": self.cost_per_qualified_call,
            "value": self.value,
            "roas": self.roas,
        }


def _per(micros: int, count: int) -> int | None:
    if not count:
        return None
    return (micros + count * _MICROS // 2) // (count * _MICROS)


def local_days(start_ms: int, end_ms: int, zone: ZoneInfo) -> tuple[str, str]:
    """The ISO days ``[first, after_last)`` the range ``[start_ms, end_ms)`` covers in
    ``zone``: a day counts when the range holds its start (a report from local midnight to
    local midnight covers exactly its days)."""

    def day_of(ms: int) -> date:
        return datetime.fromtimestamp(ms / 1000, zone).date()

    first = day_of(start_ms)
    if datetime.fromtimestamp(start_ms / 1000, zone).time() != datetime.min.time():
        first += timedelta(days=1)
    last = day_of(max(start_ms, end_ms - 1))
    return first.isoformat(), (last + timedelta(days=1)).isoformat()


async def cost_report(
    db: Store,
    scope: Scope,
    *,
    start_ms: int,
    end_ms: int,
    zone: ZoneInfo,
    level: str = "keyword",
    confidences: tuple[str, ...] | None = None,
) -> list[CostRow]:
    """Cost beside calls per source, campaign or keyword (see the module docstring).

    Cost rows are the days of ``[start_ms, end_ms)`` in ``zone`` (:func:`local_days`);
    calls are those that started in the range, within ``confidences`` (None: all). Rows are
    sorted by cost, then calls, descending; a key with calls and no cost has a row too.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    first_day, after_day = local_days(start_ms, end_ms, zone)
    adv_where, params = Scope(scope.advertiser_ids).condition("k", site=None)
    site_where = ""
    if scope.site_ids is not None:
        sites = sorted(scope.site_ids) or [-1]
        names = []
        for i, site in enumerate(sites):
            params[f"cs{i}"] = site
            names.append(f":cs{i}")
        site_where = f" AND k.site_id IN (0, {', '.join(names)})"
    costs = await db.fetchall(
        "SELECT k.source, k.campaign_id, k.campaign, k.keyword, k.match_type,"
        " SUM(k.impressions) AS impressions, SUM(k.clicks) AS clicks,"
        " SUM(k.cost_micros) AS cost_micros FROM ad_costs k"
        f" WHERE {adv_where}{site_where} AND k.day >= :d0 AND k.day < :d1"
        " GROUP BY k.source, k.campaign_id, k.campaign, k.keyword, k.match_type",
        {**params, "d0": first_day, "d1": after_day},
    )
    # A campaign named by its id on the call joins the report's name for that id.
    names_by_id: dict[tuple[str, str], str] = {}
    rows: dict[tuple[str, ...], CostRow] = {}
    for c in costs:
        campaign = c["campaign"] or c["campaign_id"]
        if c["campaign_id"] and c["campaign"]:
            names_by_id[(c["source"], c["campaign_id"])] = c["campaign"]
        row = _bucket(rows, level, c["source"], campaign, c["keyword"], c["match_type"])
        row.impressions += int(c["impressions"] or 0)
        row.clicks += int(c["clicks"] or 0)
        row.cost_micros += int(c["cost_micros"] or 0)
    call_where, call_params = scope.call_condition("c")
    conf, conf_params = confidence_clause("c", confidences)
    calls = await db.fetchall(
        "SELECT c.touch_source AS source, c.touch_campaign AS campaign,"
        " c.touch_keyword AS keyword, c.touch_match_type AS match_type,"
        " COUNT(*) AS calls, SUM(c.qualified) AS qualified,"
        " SUM(COALESCE(c.value_yen, 0)) AS value FROM calls c"
        f" WHERE {call_where}{conf} AND c.started_ms >= :a AND c.started_ms < :b"
        " GROUP BY c.touch_source, c.touch_campaign, c.touch_keyword, c.touch_match_type",
        {**call_params, **conf_params, "a": start_ms, "b": end_ms},
    )
    for c in calls:
        source = c["source"] or ""
        campaign = names_by_id.get((source, c["campaign"]), c["campaign"] or "")
        match = (c["match_type"] or "")[:1].lower()
        row = _bucket(rows, level, source, campaign, c["keyword"] or "", match)
        row.calls += int(c["calls"])
        row.qualified_calls += int(c["qualified"] or 0)
        row.value += int(c["value"] or 0)
    return sorted(rows.values(), key=lambda r: (-r.cost_micros, -r.calls, r.source, r.campaign))


def _bucket(
    rows: dict[tuple[str, ...], CostRow],
    level: str,
    source: str,
    campaign: str,
    keyword: str,
    match: str,
) -> CostRow:
    """The report row of a key at ``level``, added on first use."""
    if level == "source":
        return rows.setdefault((source,), CostRow(source))
    if level == "campaign":
        return rows.setdefault((source, campaign), CostRow(source, campaign=campaign))
    word = keyword_key(keyword)
    if level == "keyword":
        return rows.setdefault((source, word), CostRow(source, keyword=word))
    return rows.setdefault((source, word, match), CostRow(source, keyword=word, match_type=match))


def totals(rows: list[CostRow]) -> CostRow:
    """The sum of every row (a report's total line)."""
    total = CostRow("")
    for r in rows:
        total.impressions += r.impressions
        total.clicks += r.clicks
        total.cost_micros += r.cost_micros
        total.calls += r.calls
        total.qualified_calls += r.qualified_calls
        total.value += r.value
    return total
