"""Daily roll-ups of sessions, so that a report's visits are read from a few rows per site
and day instead of from every session (issue #17: portal-wide reports on 1,000,000
sessions in 300 ms).

What is rolled up, and why only that: a report reads three things, the sessions grouped by
the report's dimensions, the calls grouped by the touch frozen on them, and the sessions
with a call. Measured on 1,000,000 sessions and 50,000 calls (docs/reports.md), the
sessions are what costs (a portal's 30 days are about 333,000 sessions against 17,000
calls); the calls and the sessions with a call are read from the calls and stay exact with
no roll-up to keep in step when a call is matched late, re-attributed or worked by hand.

The tables (migration 0039):

- ``report_days``: one row per site and *local* day (midnight to midnight in the site's
  time zone, ``[day_ms, day_end_ms)``) that has been rolled up. A write that changes the
  day's sessions adds one to ``version`` (:func:`mark_session`, :func:`mark_sessions`); the
  day counts only while ``built_version`` equals it, and :func:`refresh` rolls it up again.
- ``report_session_days``: sessions per site, grain, day and value of each column of the
  grain, as ids of ``report_values`` (0 for a column the grain has not): a report groups
  integers in SQL and looks the few values of its answer up afterwards.

Grains: 0, no value (the day's sessions, for totals); 1, channel, source, match type and
device; 2, the landing page; 3, the touch (channel, source, campaign, ad group, keyword,
match type) and the device; 4, keyword × source × match type *packed* (:data:`PACKED`:
the three ids as one value, so the dashboard's default report groups one integer over
the fewest rows). A report whose dimensions and filters fit in one grain reads it; others
(landing page × keyword) read the sessions, as before.

A read (:func:`session_counts`) takes, for each site of the scope, the days fully inside
the range that are rolled up and clean from the roll-up, and everything else (today, a
day not yet built or marked changed, the parts of days at the range's edges, the sessions
an advertiser was shown on a site it does not own) from the sessions, so the answer is the
raw query's, cell for cell, whatever has been built. Days are only rolled up once closed
(:data:`GRACE_MS` after their end): sessions are written at the time of the visit.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pool.scope import Scope
from pool.store import Row, Store, Tx

# Columns per grain; smallest grains first (a report reads the first grain that has its
# columns): the day's count; the touch's few-valued columns and the device; the landing
# page; every touch column and the device.
GRAINS: dict[int, tuple[str, ...]] = {
    0: (),
    1: ("channel", "source", "match_type", "device"),
    2: ("landing_page",),
    3: ("channel", "source", "campaign", "ad_group", "keyword", "match_type", "device"),
}
# Packed grains: sessions per value of every column at once, stored as one id (of the
# columns' ids joined, ``"12,7,3"``, itself a value of ``report_values``) in the first
# column's place, the others 0. A report by exactly these columns in any order and with no
# filter (the dashboard's default report, keyword × source × match type) groups one integer
# over the fewest rows: a third of grain 3's CPU on a portal's 30 days (docs/dashboard.md).
PACKED: dict[int, tuple[str, ...]] = {4: ("keyword", "source", "match_type")}
# The columns of ``report_session_days``, in its primary key's order.
COLUMNS = GRAINS[3] + GRAINS[2]
# What a day's sessions are grouped by (once each), and the grains made from each.
_BUILDS: dict[tuple[str, ...], tuple[int, ...]] = {GRAINS[3]: (0, 1, 3), GRAINS[2]: (2,)}
# Whether reports read the roll-ups (False: every session, as before them; what
# ``bench.reports`` compares with in the same run).
READ = True
# A day is rolled up once it has been over this long (a visit written just before midnight).
GRACE_MS = 10 * 60_000
# Site-days a periodic round rolls up at most (the newest first).
ROUND_BUDGET = 400


def packed_grain(columns: Iterable[str], filters: Iterable[str] = ()) -> int | None:
    """The packed grain of exactly ``columns`` when nothing is filtered (None: none)."""
    if any(True for _ in filters):
        return None
    wanted = sorted(columns)
    for grain, cols in PACKED.items():
        if wanted == sorted(cols):
            return grain
    return None


def grain_for(columns: Iterable[str]) -> int | None:
    """The smallest grain holding every column (None: no grain does)."""
    wanted = set(columns)
    for grain, cols in GRAINS.items():
        if wanted <= set(cols):
            return grain
    return None


# ---------------------------------------------------------------------------- keys


class _Values:
    """``report_values`` of one store, both ways (an id never changes once given)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.values: dict[int, str] = {0: ""}
        self.loaded = False
        self.lock = asyncio.Lock()
        # A packed value's id -> the values it joins (once its ids' values are known).
        self.packs: dict[int, tuple[str, ...]] = {}

    def add(self, rows: Iterable[Row]) -> None:
        for r in rows:
            self.ids[str(r["value"])] = int(r["id"])
            self.values[int(r["id"])] = str(r["value"])


_VALUES: weakref.WeakKeyDictionary[Any, _Values] = weakref.WeakKeyDictionary()


def _values(db: Store) -> _Values:
    found = _VALUES.get(db)
    if found is None:
        found = _VALUES[db] = _Values()
    return found


async def _values_of(db: Store, ids: Iterable[int]) -> dict[int, str]:
    """The values of ids (read from the store for those not known yet)."""
    known = _values(db)
    if not known.loaded:
        async with known.lock:
            if not known.loaded:
                known.add(await db.fetchall("SELECT id, value FROM report_values"))
                known.loaded = True
    missing = sorted({i for i in ids if i not in known.values})
    for chunk in _chunks(missing, 500):
        params = {f"i{n}": v for n, v in enumerate(chunk)}
        known.add(
            await db.fetchall(
                f"SELECT id, value FROM report_values WHERE id IN ({_names(params)})", params
            )
        )
    return known.values


async def _ids_of(db: Store, wanted: Iterable[str]) -> dict[str, int]:
    """Ids of values, made when missing."""
    known = _values(db)
    out: dict[str, int] = {}
    missing: list[str] = []
    for v in set(wanted):
        vid = known.ids.get(v)
        if vid is None:
            missing.append(v)
        else:
            out[v] = vid
    for chunk in _chunks(missing, 500):
        async with db.write() as tx:
            await tx.executemany(
                "INSERT INTO report_values (value) VALUES (:v) ON CONFLICT (value) DO NOTHING",
                [{"v": v} for v in chunk],
            )
        params: dict[str, Any] = {f"v{n}": v for n, v in enumerate(chunk)}
        rows = await db.fetchall(
            f"SELECT id, value FROM report_values WHERE value IN ({_names(params)})", params
        )
        known.add(rows)
        for r in rows:
            out[str(r["value"])] = int(r["id"])
    return out


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _names(params: Mapping[str, Any]) -> str:
    return ", ".join(f":{k}" for k in params)


# ---------------------------------------------------------------------------- days


def local_days(first_ms: int, last_end_ms: int, timezone: str) -> list[tuple[int, int]]:
    """``[day_ms, day_end_ms)`` of every local day in ``timezone`` from the one holding
    ``first_ms`` to the last one ending by ``last_end_ms``."""
    tz = ZoneInfo(timezone)
    day = datetime.fromtimestamp(first_ms / 1000, tz).date()
    out: list[tuple[int, int]] = []
    start = _midnight(day, tz)
    while True:
        day = day + timedelta(days=1)
        end = _midnight(day, tz)
        if end > last_end_ms:
            return out
        out.append((start, end))
        start = end


def _midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=tz).timestamp() * 1000)


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return "UTC"
    return name


async def build_day(db: Store, site_id: int, day_ms: int, day_end_ms: int, now: int) -> None:
    """Roll up one site's sessions of ``[day_ms, day_end_ms)``.

    The day's version is read before its sessions: a change written meanwhile leaves the
    day marked (its version ahead of the one built), to be rolled up again."""
    where = "site_id = :s AND started_ms >= :a AND started_ms < :b"
    span = {"s": site_id, "a": day_ms, "b": day_end_ms}
    async with db.write() as tx:
        await tx.execute(
            "INSERT INTO report_days (site_id, day_ms, day_end_ms) VALUES (:s, :a, :b)"
            " ON CONFLICT (site_id, day_ms) DO NOTHING",
            span,
        )
        version = int(
            await tx.fetchval(
                "SELECT version FROM report_days WHERE site_id = :s AND day_ms = :a", span
            )
        )
    # grain -> {values of the grain's columns: sessions}
    counts: dict[int, dict[tuple[str, ...], int]] = {grain: {} for grain in GRAINS}
    for listed, grains in _BUILDS.items():
        columns = ", ".join(listed)
        rows = await db.fetchall(
            f"SELECT {columns}, COUNT(*) AS n FROM sessions WHERE {where} GROUP BY {columns}",
            span,
        )
        for r in rows:  # NULL and '' are one value, as the reports read them
            values = {c: str(r[c] or "") for c in listed}
            n = int(r["n"])
            for grain in grains:
                key = tuple(values[c] for c in GRAINS[grain])
                counts[grain][key] = counts[grain].get(key, 0) + n
    ids = await _ids_of(db, (v for per in counts.values() for key in per for v in key))
    inserts: list[dict[str, Any]] = []
    for grain, per in counts.items():
        for key, n in per.items():
            row: dict[str, Any] = dict.fromkeys(COLUMNS, 0)
            row.update({c: ids[v] for c, v in zip(GRAINS[grain], key, strict=True)})
            inserts.append({**row, "s": site_id, "g": grain, "d": day_ms, "n": n})
    # Packed grains, from grain 3 (which holds every touch column and the device).
    full = GRAINS[3]
    for grain, packed in PACKED.items():
        at = [full.index(c) for c in packed]
        sums: dict[str, int] = {}
        for key, n in counts[3].items():
            pack = ",".join(str(ids[key[i]]) for i in at)
            sums[pack] = sums.get(pack, 0) + n
        pack_ids = await _ids_of(db, sums)
        for pack, n in sums.items():
            row = dict.fromkeys(COLUMNS, 0)
            row[packed[0]] = pack_ids[pack]
            inserts.append({**row, "s": site_id, "g": grain, "d": day_ms, "n": n})
    async with db.write() as tx:
        await tx.execute(
            "DELETE FROM report_session_days WHERE site_id = :s AND day_ms = :d",
            {"s": site_id, "d": day_ms},
        )
        if inserts:
            await tx.executemany(
                f"INSERT INTO report_session_days (site_id, grain, day_ms, {', '.join(COLUMNS)},"
                f" sessions) VALUES (:s, :g, :d, {', '.join(':' + c for c in COLUMNS)}, :n)",
                inserts,
            )
        await tx.execute(
            "UPDATE report_days SET built_version = :v, built_ms = :now, day_end_ms = :b"
            " WHERE site_id = :s AND day_ms = :a",
            {**span, "v": version, "now": now},
        )


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did: site-days rolled up, and those still to do (over the budget)."""

    built: int
    left: int


async def refresh(
    db: Store,
    *,
    now: int,
    budget: int | None = ROUND_BUDGET,
    site_ids: Iterable[int] | None = None,
) -> RefreshResult:
    """Roll up every closed local day of every site (or of ``site_ids``) from its first
    session on that is not rolled up or is marked changed, the newest first, at most
    ``budget`` site-days (None: all). Days of an earlier time zone of a site are dropped."""
    sites = await db.fetchall("SELECT id, timezone FROM sites ORDER BY id")
    wanted = None if site_ids is None else set(site_ids)
    todo: list[tuple[int, int, int]] = []
    for site in sites:
        sid = int(site["id"])
        if wanted is not None and sid not in wanted:
            continue
        first = await db.fetchval(
            "SELECT MIN(started_ms) FROM sessions WHERE site_id = :s", {"s": sid}
        )
        if first is None:
            continue
        grid = local_days(int(first), now - GRACE_MS, _zone(str(site["timezone"])))
        have = {
            int(r["day_ms"]): r
            for r in await db.fetchall(
                "SELECT day_ms, day_end_ms, version, built_version FROM report_days"
                " WHERE site_id = :s",
                {"s": sid},
            )
        }
        ends = dict(grid)
        # Days of another grid (the site's time zone changed): dropped, then made anew.
        stale = [d for d, r in have.items() if int(r["day_end_ms"]) != ends.get(d)]
        if stale:
            await _drop(db, sid, stale)
            for d in stale:
                have.pop(d)
        for a, b in grid:
            r = have.get(a)
            if r is None or int(r["built_version"]) != int(r["version"]):
                todo.append((sid, a, b))
    todo.sort(key=lambda t: (-t[1], t[0]))
    chosen = todo if budget is None else todo[:budget]
    for sid, a, b in chosen:
        await build_day(db, sid, a, b, now)
    return RefreshResult(len(chosen), len(todo) - len(chosen))


@dataclass(frozen=True)
class Status:
    """Site-days rolled up and clean, marked changed, and closed but not rolled up."""

    clean: int
    changed: int
    missing: int


async def status(db: Store, *, now: int) -> Status:
    """How far the roll-ups are (:class:`Status`)."""
    counts = await db.fetchone(
        "SELECT SUM(CASE WHEN built_version = version THEN 1 ELSE 0 END) AS clean,"
        " SUM(CASE WHEN built_version = version THEN 0 ELSE 1 END) AS changed FROM report_days"
    )
    missing = 0
    for site in await db.fetchall("SELECT id, timezone FROM sites"):
        first = await db.fetchval(
            "SELECT MIN(started_ms) FROM sessions WHERE site_id = :s", {"s": site["id"]}
        )
        if first is None:
            continue
        grid = local_days(int(first), now - GRACE_MS, _zone(str(site["timezone"])))
        have = await db.fetchval(
            "SELECT COUNT(*) FROM report_days WHERE site_id = :s AND day_ms >= :a",
            {"s": site["id"], "a": grid[0][0] if grid else now},
        )
        missing += max(0, len(grid) - int(have or 0))
    assert counts is not None
    return Status(int(counts["clean"] or 0), int(counts["changed"] or 0), missing)


async def _drop(db: Store, site_id: int, days: Sequence[int]) -> None:
    for chunk in _chunks(list(days), 500):
        params: dict[str, Any] = {f"d{n}": v for n, v in enumerate(chunk)}
        names = _names(params)
        params["s"] = site_id
        async with db.write() as tx:
            await tx.execute(
                f"DELETE FROM report_session_days WHERE site_id = :s AND day_ms IN ({names})",
                params,
            )
            await tx.execute(
                f"DELETE FROM report_days WHERE site_id = :s AND day_ms IN ({names})", params
            )


async def rebuild(db: Store, *, now: int, site_ids: Iterable[int] | None = None) -> RefreshResult:
    """Mark every rolled-up day (of ``site_ids``, or all) changed and roll everything up."""
    wanted = None if site_ids is None else sorted(set(site_ids))
    async with db.write() as tx:
        if wanted is None:
            await tx.execute("UPDATE report_days SET version = version + 1")
        else:
            for sid in wanted:
                await tx.execute(
                    "UPDATE report_days SET version = version + 1 WHERE site_id = :s", {"s": sid}
                )
    return await refresh(db, now=now, budget=None, site_ids=wanted)


async def mark_session(tx: Tx, session_id: int) -> None:
    """Mark the day of one session changed (its touch columns were rewritten)."""
    await tx.execute(
        "UPDATE report_days SET version = version + 1 WHERE site_id ="
        " (SELECT site_id FROM sessions WHERE id = :id) AND day_ms <="
        " (SELECT started_ms FROM sessions WHERE id = :id) AND day_end_ms >"
        " (SELECT started_ms FROM sessions WHERE id = :id)",
        {"id": session_id},
    )


async def mark_sessions(tx: Tx, ids: Mapping[str, Any], in_ids: str) -> None:
    """Mark the days of the sessions ``in_ids`` (an ``IN (...)`` list of ``ids``' names)
    changed, before they are deleted: one statement per site among them."""
    spans = await tx.fetchall(
        "SELECT site_id, MIN(started_ms) AS lo, MAX(started_ms) AS hi FROM sessions"
        f" WHERE id IN {in_ids} GROUP BY site_id",
        dict(ids),
    )
    for r in spans:
        await tx.execute(
            "UPDATE report_days SET version = version + 1"
            " WHERE site_id = :s AND day_end_ms > :lo AND day_ms <= :hi",
            {"s": r["site_id"], "lo": r["lo"], "hi": r["hi"]},
        )


# ---------------------------------------------------------------------------- reads


async def _rolled_sites(db: Store, scope: Scope) -> list[int]:
    """The sites whose every session is in the scope (read from the roll-up): every site
    of the advertisers in scope (all sites for every advertiser), cut to its sites."""
    where, params = scope.condition("st", advertiser="advertiser_id", site="id")
    rows = await db.fetchall(f"SELECT st.id FROM sites st WHERE {where} ORDER BY st.id", params)
    return [int(r["id"]) for r in rows]


async def _coverage(
    db: Store, sites: list[int], start_ms: int, end_ms: int
) -> dict[int, list[tuple[int, int]]]:
    """Per site, the clean rolled-up days (``(day_ms, day_end_ms)``) inside
    ``[start_ms, end_ms)``, in order, none overlapping another."""
    out: dict[int, list[tuple[int, int]]] = {s: [] for s in sites}
    ends: dict[int, int] = {}
    for chunk in _chunks(sites, 500):
        params: dict[str, Any] = {f"s{n}": v for n, v in enumerate(chunk)}
        rows = await db.fetchall(
            "SELECT site_id, day_ms, day_end_ms FROM report_days"
            f" WHERE site_id IN ({_names(params)}) AND day_ms >= :a AND day_end_ms <= :b"
            " AND built_version = version ORDER BY site_id, day_ms",
            {**params, "a": start_ms, "b": end_ms},
        )
        for r in rows:
            sid, a, b = int(r["site_id"]), int(r["day_ms"]), int(r["day_end_ms"])
            if a < ends.get(sid, start_ms):
                continue  # overlaps a day taken (left by a time zone change)
            out[sid].append((a, b))
            ends[sid] = b
    return out


def _gaps(days: Sequence[tuple[int, int]], start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """``[start_ms, end_ms)`` without ``days`` (in order, not overlapping)."""
    gaps: list[tuple[int, int]] = []
    at = start_ms
    for d, end in days:
        if d > at:
            gaps.append((at, d))
        at = end
    if at < end_ms:
        gaps.append((at, end_ms))
    return gaps


async def session_counts(
    db: Store,
    *,
    scope: Scope,
    start_ms: int,
    end_ms: int,
    columns: Sequence[str],
    filters: Mapping[str, str] | None = None,
    raw_where: tuple[str, dict[str, Any]],
) -> list[tuple[tuple[str, ...], int]]:
    """Sessions of ``scope`` started in ``[start_ms, end_ms)`` grouped by ``columns``:
    ``(values, count)`` pairs (a NULL value read as ''), as the raw ``GROUP BY`` counts.
    ``filters``: {column: value} kept (``COALESCE(column, '') = value``).
    ``raw_where``: the scope's condition on sessions ``s`` (what the raw query uses).
    """
    cols = tuple(columns)
    flt = dict(filters or {})
    grain = packed_grain(cols, flt) or grain_for((*cols, *flt))
    counts: dict[tuple[str, ...], int] = {}
    if grain is None or not READ:
        await _raw(db, counts, cols, flt, [(raw_where, start_ms, end_ms)])
        return list(counts.items())
    sites = await _rolled_sites(db, scope)
    parts: list[tuple[tuple[str, dict[str, Any]], int, int]] = []
    rest = _rest(scope, sites, raw_where)
    if rest is not None:
        parts.append((rest, start_ms, end_ms))
    # Sites with the same days rolled up are read together.
    days = await _coverage(db, sites, start_ms, end_ms)
    groups: dict[tuple[tuple[int, int], ...], list[int]] = {}
    for sid, site_days in days.items():
        groups.setdefault(tuple(site_days), []).append(sid)
    rolled: list[tuple[list[int], tuple[int, ...]]] = []
    for taken, members in groups.items():
        if taken:
            rolled.append((members, tuple(a for a, _ in taken)))
        site_params = {f"rs{n}": v for n, v in enumerate(members)}
        where = f"s.site_id IN ({_names(site_params)})"
        for a, b in _gaps(taken, start_ms, end_ms):
            parts.append(((where, site_params), a, b))
    await asyncio.gather(
        _raw(db, counts, cols, flt, parts),
        *(_rolled(db, counts, grain, cols, flt, m, t) for m, t in rolled),
    )
    return list(counts.items())


def _rest(
    scope: Scope, sites: list[int], raw_where: tuple[str, dict[str, Any]]
) -> tuple[str, dict[str, Any]] | None:
    """The sessions of the scope outside its rolled-up sites, or None when there are none
    to look for (a scope of every advertiser reads whole sites only)."""
    if scope.advertiser_ids is None:
        return None
    if scope.site_ids is not None and scope.site_ids <= set(sites):
        return None  # its one site (or sites) read whole
    where, params = raw_where
    if not sites:
        return where, params
    site_params = {f"nr{n}": v for n, v in enumerate(sites)}
    # An advertiser's sessions on sites it does not own: those shown one of its numbers.
    return f"{where} AND s.site_id NOT IN ({_names(site_params)})", {**params, **site_params}


async def _raw(
    db: Store,
    counts: dict[tuple[str, ...], int],
    cols: tuple[str, ...],
    flt: Mapping[str, str],
    parts: list[tuple[tuple[str, dict[str, Any]], int, int]],
) -> None:
    if not parts:
        return
    f_sql = "".join(f" AND COALESCE(s.{c}, '') = :rf{i}" for i, c in enumerate(sorted(flt)))
    f_params = {f"rf{i}": flt[c] for i, c in enumerate(sorted(flt))}
    keys = ", ".join(f"s.{c} AS k{i}" for i, c in enumerate(cols))
    group = f" GROUP BY {', '.join(f's.{c}' for c in cols)}" if cols else ""
    select = f"SELECT {keys + ', ' if keys else ''}COUNT(*) AS n FROM sessions s"

    async def one(part: tuple[tuple[str, dict[str, Any]], int, int]) -> list[Row]:
        (where, params), a, b = part
        return await db.fetchall(
            f"{select} WHERE {where} AND s.started_ms >= :ra AND s.started_ms < :rb{f_sql}{group}",
            {**params, **f_params, "ra": a, "rb": b},
        )

    for rows in await asyncio.gather(*(one(p) for p in parts)):
        for r in rows:
            n = int(r["n"])
            if not n:
                continue
            key = tuple(str(r[f"k{i}"] or "") for i in range(len(cols)))
            counts[key] = counts.get(key, 0) + n


async def _rolled(
    db: Store,
    counts: dict[tuple[str, ...], int],
    grain: int,
    cols: tuple[str, ...],
    flt: Mapping[str, str],
    sites: list[int],
    days: tuple[int, ...],
) -> None:
    params: dict[str, Any] = {f"rs{n}": v for n, v in enumerate(sites)}
    site_names = _names(params)
    day_params = {f"rd{n}": v for n, v in enumerate(days)}
    params.update(day_params)
    where = f"site_id IN ({site_names}) AND grain = :g AND day_ms IN ({_names(day_params)})"
    for i, (column, value) in enumerate(sorted(flt.items())):
        where += f" AND {column} = (SELECT id FROM report_values WHERE value = :rv{i})"
        params[f"rv{i}"] = value
    packed = PACKED.get(grain)
    if packed is not None:
        rows = await db.fetchall(
            f"SELECT {packed[0]} AS k, SUM(sessions) AS n FROM report_session_days"
            f" WHERE {where} GROUP BY {packed[0]}",
            {**params, "g": grain},
        )
        known = _values(db)
        packs = known.packs
        new = [int(r["k"]) for r in rows if int(r["k"]) not in packs]
        if new:
            joined = await _values_of(db, new)
            ids = {p: [int(i) for i in joined[p].split(",")] for p in new}
            values = await _values_of(db, {i for each in ids.values() for i in each})
            for p, each in ids.items():
                packs[p] = tuple(values[i] for i in each)
        # Each column of the report: its place among the packed values.
        at = [packed.index(c) for c in cols]
        same = at == list(range(len(packed)))
        for r in rows:
            found = packs[int(r["k"])]
            key = found if same else tuple(found[i] for i in at)
            counts[key] = counts.get(key, 0) + int(r["n"])
        return
    keys = ", ".join(f"{c} AS k{i}" for i, c in enumerate(cols))
    group = f" GROUP BY {', '.join(cols)}" if cols else ""
    rows = await db.fetchall(
        f"SELECT {keys + ', ' if keys else ''}SUM(sessions) AS n FROM report_session_days"
        f" WHERE {where}{group}",
        {**params, "g": grain},
    )
    names = [f"k{i}" for i in range(len(cols))]
    values = await _values_of(db, (int(r[k]) for r in rows for k in names))
    for r in rows:
        if r["n"] is None:
            continue  # no row at all (a sum over nothing)
        key = tuple(values[int(r[k])] for k in names)
        counts[key] = counts.get(key, 0) + int(r["n"])
