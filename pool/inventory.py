"""Adding tracking numbers from people's input: validate every row, then store all or none.

A row (:class:`NumberSpec`) names the number, its kind, the site (by key), the target it
stands in for (the business number shown on the page) and where calls are forwarded. The
rules, each reported with the row and the field at fault:

- the number must be valid (libphonenumber) and not stored yet, nor twice in the input,
  nor a business number (target) of any site; a number held by another advertiser is
  refused as "not available", never saying whose it is, what it is or its id (a member must
  learn nothing about another tenant's numbers);
- the site must exist (and belong to the caller's advertiser when one is given);
- ``pool`` and ``overflow`` numbers need a target that has a pool, and must be numbers of
  the target's country (a visitor sees them in place of the target);
- ``source`` numbers need a label (the medium: "Billboard Shibuya", "Yahoo! ads") and must
  be numbers of the site's country or of one of its targets' countries;
- ``forward_to`` defaults to the target; it must be a valid number calls may be forwarded
  to (:mod:`pool.destinations`: an allowed country, no premium-rate or satellite range).
  When it is left empty the refusal names the target, since that is where calls would go.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import phonenumbers

from pool import destinations, numbers
from pool.numbers import KINDS, NumberError
from pool.scope import scope_of
from pool.store import Store, Tx

MAX_ROWS = 10_000


@dataclass(frozen=True)
class NumberSpec:
    """One number as a person gives it (CSV row or API body); ``row`` names it in errors."""

    number: str
    kind: str = "pool"
    site: str = ""
    target: str = ""
    forward_to: str = ""
    label: str = ""
    row: int = 1


@dataclass(frozen=True)
class RowError:
    """Why one row was refused."""

    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", {self.field}" if self.field else "")
        return f"{where}: {self.reason}"


class InventoryError(NumberError):
    """Rows that cannot be stored; nothing was stored."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        self.errors = list(errors)
        shown = "; ".join(str(e) for e in self.errors[:20])
        more = f" (and {len(self.errors) - 20} more)" if len(self.errors) > 20 else ""
        super().__init__(f"{len(self.errors)} row(s) refused, nothing stored: {shown}{more}")


@dataclass(frozen=True)
class _Resolved:
    advertiser_id: int
    site_id: int
    pool_id: int | None
    number: str
    kind: str
    forward_to: str
    label: str


class _Sites:
    """Sites, their targets and pools, looked up once per key within the unit of work."""

    def __init__(self, tx: Tx, advertiser_id: int | None) -> None:
        self.tx = tx
        self.advertiser_id = advertiser_id
        self.cache: dict[str, dict[str, object] | None] = {}

    async def get(self, key: str) -> dict[str, object] | None:
        if key not in self.cache:
            site = await self.tx.fetchone(
                "SELECT id, advertiser_id, country FROM sites WHERE site_key = :k", {"k": key}
            )
            if site is not None and not scope_of(self.advertiser_id).allows(site["advertiser_id"]):
                site = None  # another advertiser's site is, to this caller, no site at all
            if site is not None:
                rows = await self.tx.fetchall(
                    "SELECT t.id, t.number, p.id AS pool_id,"
                    " COALESCE(t.advertiser_id, :a) AS advertiser_id FROM targets t"
                    " LEFT JOIN pools p ON p.target_id = t.id WHERE t.site_id = :s",
                    {"s": site["id"], "a": site["advertiser_id"]},
                )
                site["targets"] = {r["number"]: r for r in rows}
            self.cache[key] = site
        return self.cache[key]


def _fail(spec: NumberSpec, field: str, reason: str) -> RowError:
    return RowError(spec.row, field, reason)


async def _resolve(
    spec: NumberSpec, sites: _Sites, forward_countries: Collection[str]
) -> _Resolved | RowError:
    kind = (spec.kind or "pool").strip().lower()
    if kind not in KINDS:
        return _fail(spec, "kind", f"unknown kind {spec.kind!r} (use {', '.join(KINDS)})")
    if not spec.site.strip():
        return _fail(spec, "site", "a site key is required")
    site = await sites.get(spec.site.strip())
    if site is None:
        return _fail(spec, "site", f"no site has the key {spec.site.strip()!r}")
    country = str(site["country"])
    targets: dict[str, dict[str, object]] = site["targets"]  # type: ignore[assignment]
    target_row: dict[str, object] | None = None
    if spec.target.strip():
        try:
            target = numbers.to_e164(spec.target, country)
        except NumberError as exc:
            return _fail(spec, "target", str(exc))
        target_row = targets.get(target)
        if target_row is None:
            return _fail(spec, "target", f"{target} is not a business number of this site")
    region = numbers.region_of(str(target_row["number"])) if target_row else country
    try:
        parsed = numbers.parse(spec.number, region)
    except NumberError as exc:
        return _fail(spec, "number", str(exc))
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    got = phonenumbers.region_code_for_number(parsed) or "unknown"
    pool_id: int | None = None
    if kind in ("pool", "overflow"):
        if target_row is None:
            return _fail(spec, "target", f"a {kind} number needs the target it stands in for")
        if target_row["pool_id"] is None:
            return _fail(spec, "target", f"{target_row['number']} has no pool; create it first")
        pool_id = int(target_row["pool_id"])  # type: ignore[call-overload]
        if got != region:
            return _fail(
                spec, "number", f"{e164} is a {got} number; the target's country is {region}"
            )
    else:
        allowed = {country} | {numbers.region_of(t) for t in targets}
        if got not in allowed:
            return _fail(
                spec,
                "number",
                f"{e164} is a {got} number; this site takes {', '.join(sorted(allowed))}",
            )
        if not spec.label.strip():
            return _fail(spec, "label", "a source number needs a label naming its medium")
    explicit = spec.forward_to.strip()
    forward = explicit or (str(target_row["number"]) if target_row else "")
    if not forward:
        return _fail(spec, "forward_to", "where to forward calls is required (or a target)")
    try:
        forward = numbers.to_e164(forward, region)
    except NumberError as exc:
        return _fail(spec, "forward_to", str(exc))
    if forward == e164:
        return _fail(spec, "forward_to", "a number cannot forward to itself")
    problem = destinations.destination_problem(
        forward, site_country=country, countries=forward_countries
    )
    if problem:
        return _fail(spec, "forward_to" if explicit else "target", problem)
    # A number standing in for a target is its advertiser's (a portal's shared site).
    owner = target_row["advertiser_id"] if target_row else site["advertiser_id"]
    return _Resolved(
        int(owner),  # type: ignore[call-overload]
        int(site["id"]),  # type: ignore[call-overload]
        pool_id,
        e164,
        kind,
        forward,
        spec.label.strip()[:200],
    )


# The one answer for a number another advertiser holds, as a tracking or a business number.
NOT_AVAILABLE = "{number} is not available"


def unavailable(number: str) -> str:
    """The reason given for a number held by another advertiser: nothing about whose or what."""
    return NOT_AVAILABLE.format(number=number)


async def _duplicates(
    tx: Tx, resolved: list[tuple[NumberSpec, _Resolved]], scope: int | None
) -> list[RowError]:
    errors: list[RowError] = []
    first_row: dict[str, int] = {}
    for spec, res in resolved:
        if res.number in first_row:
            errors.append(
                _fail(spec, "number", f"{res.number} is also on row {first_row[res.number]}")
            )
            continue
        first_row[res.number] = spec.row
        stored = await tx.fetchone(
            "SELECT id, advertiser_id FROM tracking_numbers WHERE number = :n", {"n": res.number}
        )
        target = await tx.fetchone(
            "SELECT s.advertiser_id FROM targets t JOIN sites s ON s.id = t.site_id"
            " WHERE t.number = :n"
            " ORDER BY CASE WHEN s.advertiser_id = :a THEN 0 ELSE 1 END LIMIT 1",
            {"n": res.number, "a": scope or 0},
        )
        if stored is not None:
            if not scope_of(scope).allows(stored["advertiser_id"]):
                errors.append(_fail(spec, "number", unavailable(res.number)))
            else:
                errors.append(
                    _fail(spec, "number", f"{res.number} is already stored (id {stored['id']})")
                )
        elif target is not None:
            if not scope_of(scope).allows(target["advertiser_id"]):
                errors.append(_fail(spec, "number", unavailable(res.number)))
            else:
                errors.append(_fail(spec, "number", f"{res.number} is a business number of a site"))
    overflow_rows: dict[int, int] = {}
    for spec, res in resolved:
        if res.kind == "overflow" and res.pool_id is not None:
            if res.pool_id in overflow_rows:
                errors.append(_fail(spec, "kind", "a pool has one overflow number"))
            overflow_rows[res.pool_id] = spec.row
    return errors


async def add_numbers(
    db: Store,
    specs: Sequence[NumberSpec],
    *,
    advertiser_id: int | None,
    now_ms: int,
    errors: Sequence[RowError] = (),
    forward_countries: Collection[str] = (),
) -> list[int]:
    """Validate every spec, then store them all in one unit of work; return the new ids.

    ``advertiser_id`` limits the sites a caller may add to (None: any).
    ``forward_countries`` are the countries calls may be forwarded to (the install's
    ``CALLPATH_FORWARD_COUNTRIES``; empty: each site's own country). Raises
    :class:`InventoryError` listing every bad row, including ``errors`` found earlier (e.g.
    malformed CSV rows); then nothing is stored. An overflow number replaces its pool's
    previous overflow number.
    """
    if not specs and errors:
        raise InventoryError(errors)
    if not specs:
        raise InventoryError([RowError(1, "", "no numbers given")])
    if len(specs) > MAX_ROWS:
        raise InventoryError([RowError(MAX_ROWS + 1, "", f"more than {MAX_ROWS} rows")])
    async with db.write() as tx:
        sites = _Sites(tx, advertiser_id)
        found: list[RowError] = list(errors)
        resolved: list[tuple[NumberSpec, _Resolved]] = []
        for spec in specs:
            res = await _resolve(spec, sites, forward_countries)
            if isinstance(res, RowError):
                found.append(res)
            else:
                resolved.append((spec, res))
        found += await _duplicates(tx, resolved, advertiser_id)
        if found:
            found.sort(key=lambda e: e.row)
            raise InventoryError(found)
        ids = []
        for _, res in resolved:
            ids.append(
                await numbers.add_number(
                    tx,
                    advertiser_id=res.advertiser_id,
                    number=res.number,
                    forward_to=res.forward_to,
                    kind=res.kind,
                    site_id=res.site_id,
                    pool_id=res.pool_id,
                    source_label=res.label,
                    now_ms=now_ms,
                )
            )
        return ids
