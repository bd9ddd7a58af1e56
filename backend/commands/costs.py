"""``callpath costs``: import ad cost from report downloads, list imports, show the report.

``callpath costs import --platform google --advertiser 1 keyword-report.csv`` reads the file
as the platform gave it (see :mod:`attribution.costs`); a refused file prints every bad row
and stores nothing. ``callpath costs report`` prints cost per call and per qualified call.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from attribution import cost_report as cr
from attribution import costs
from attribution import platforms as reg
from pool.scope import Scope


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("costs", help="import ad cost reports; cost per call and ROAS")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    imp = actions.add_parser("import", help="import a platform's keyword or campaign report")
    imp.add_argument("file", type=Path)
    imp.add_argument("--platform", required=True, choices=reg.keys())
    imp.add_argument("--advertiser", type=int, required=True, help="the advertiser's id")
    imp.add_argument("--site", type=int, help="only this site of the advertiser")
    imp.set_defaults(func=run_import)

    ls = actions.add_parser("list", help="list imports, newest first")
    ls.add_argument("--advertiser", type=int)
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=run_list)

    rep = actions.add_parser("report", help="cost beside calls for a period")
    rep.add_argument("--level", choices=cr.LEVELS, default="keyword")
    rep.add_argument("--start", type=date.fromisoformat, required=True, help="YYYY-MM-DD")
    rep.add_argument("--end", type=date.fromisoformat, required=True, help="YYYY-MM-DD (inclusive)")
    rep.add_argument("--tz", default="Asia/Tokyo")
    rep.add_argument("--advertiser", type=int)
    rep.add_argument("--site", type=int)
    rep.add_argument("--json", action="store_true", help="print JSON")
    rep.set_defaults(func=run_report)


def run_import(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from pool.store import now_ms

    try:
        parsed = costs.parse(args.file.read_bytes())
    except costs.CostFileError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        for row, field, reason in exc.errors:
            print(f"  row {row}, {field}: {reason}", file=sys.stderr)
        return 1

    async def work(db: Any, settings: Any) -> cr.CostImport:
        if not await db.fetchval("SELECT 1 FROM advertisers WHERE id = :a", {"a": args.advertiser}):
            raise LookupError(f"no advertiser has the id {args.advertiser}")
        return await cr.import_costs(
            db,
            parsed,
            advertiser_id=args.advertiser,
            site_id=args.site,
            platform=args.platform,
            filename=args.file.name,
            by="command line",
            now_ms=now_ms(),
        )

    done = run_with_db(args, work)
    print(
        f"imported {done.rows} rows of {done.platform} cost ({done.first_day} to"
        f" {done.last_day}, {done.cost:,} {done.currency or 'in the account currency'},"
        f" read as {done.encoding}; {done.skipped_rows} total rows skipped)"
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db

    async def work(db: Any, settings: Any) -> list[cr.CostImport]:
        return await cr.list_imports(db, Scope.of(args.advertiser), limit=500)

    found = run_with_db(args, work)
    if args.json:
        data = [i.as_json() for i in found]
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    for i in found:
        print(
            f"{i.id:>5}  advertiser {i.advertiser_id:<5} {i.platform:<10} {i.first_day}"
            f"..{i.last_day}  {i.rows:>6} rows  {i.cost:>12,} {i.currency}  {i.filename}"
        )
    return 0


def run_report(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db

    zone = ZoneInfo(args.tz)
    start = int(datetime.combine(args.start, time(), zone).timestamp() * 1000)
    end = int(datetime.combine(args.end + timedelta(days=1), time(), zone).timestamp() * 1000)

    async def work(db: Any, settings: Any) -> list[cr.CostRow]:
        scope = Scope.of(args.advertiser, args.site)
        return await cr.cost_report(
            db, scope, start_ms=start, end_ms=end, zone=zone, level=args.level
        )

    rows = run_with_db(args, work)
    if args.json:
        data = {"data": [r.as_json() for r in rows], "total": cr.totals(rows).as_json()}
        sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    for r in [*rows, cr.totals(rows)]:
        name = " / ".join(x for x in (r.source, r.campaign, r.keyword, r.match_type) if x)
        per_call = "-" if r.cost_per_qualified_call is None else f"{r.cost_per_qualified_call:,}"
        print(
            f"{name or '(total)':<50} cost {r.cost:>10,}  calls {r.calls:>5}"
            f"  qualified {r.qualified_calls:>5}  per qualified call {per_call:>8}"
        )
    return 0
