"""``callpath numbers``: import, add, list and retire tracking numbers.

``callpath numbers import numbers.csv [--site KEY]`` stores every row or none; errors name
the line and the reason (format in docs/numbers.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("numbers", help="import, add, list and retire tracking numbers")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    imp = actions.add_parser("import", help="import numbers from a CSV file (all or nothing)")
    imp.add_argument("file", help="CSV file (UTF-8 or Shift_JIS); '-' reads stdin")
    imp.add_argument("--site", default="", help="site key for rows without a site column")
    imp.set_defaults(func=run_import)

    add = actions.add_parser("add", help="add one tracking number")
    add.add_argument("number", help="the tracking number (national or E.164)")
    add.add_argument("--site", required=True, help="site key")
    add.add_argument("--kind", default="pool", choices=["pool", "source", "overflow"])
    add.add_argument("--target", default="", help="business number it stands in for")
    add.add_argument("--forward-to", default="", help="where calls go (default: the target)")
    add.add_argument("--label", default="", help="medium of a source number")
    add.set_defaults(func=run_add)

    ls = actions.add_parser("list", help="list tracking numbers")
    ls.add_argument("--site", default="", help="only this site")
    ls.add_argument("--kind", default="", help="only this kind")
    ls.add_argument("--status", default="", help="only this status")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(func=run_list)

    codes = actions.add_parser(
        "codes", help="fixed codes for offline media on a source number (任意番号)"
    )
    codes.add_argument("number", help="the source number (national or E.164) or its id")
    codes.add_argument("--add", default="", metavar="CODE", help="give this code (1-6 digits)")
    codes.add_argument("--label", default="", help="medium of the code (flyer A, radio)")
    codes.add_argument("--campaign", default="", help="campaign of the code")
    codes.add_argument("--delete", default="", metavar="CODE", help="take this code back")
    codes.set_defaults(func=run_codes)

    retire = actions.add_parser("retire", help="retire a number (waits for its live lease)")
    retire.add_argument("number", help="number (national or E.164) or its id")
    retire.set_defaults(func=run_retire)


def _report(exc: Exception) -> int:
    from pool.inventory import InventoryError

    if isinstance(exc, InventoryError):
        print(f"callpath: {len(exc.errors)} row(s) refused; nothing was stored:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    print(f"callpath: {exc}", file=sys.stderr)
    return 1


def _store(args: argparse.Namespace, specs: list[Any], errors: Any = ()) -> int:
    from backend.commands import run_with_db
    from pool.inventory import add_numbers
    from pool.numbers import NumberError
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> list[int]:
        return await add_numbers(
            db,
            specs,
            advertiser_id=None,
            now_ms=now_ms(),
            errors=errors,
            forward_countries=settings.forward_country_list(),
        )

    try:
        ids = run_with_db(args, work)
    except NumberError as exc:
        return _report(exc)
    print(f"stored {len(ids)} number(s)")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from pool.imports import decode, read_csv
    from pool.numbers import NumberError

    data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    try:
        specs, malformed = read_csv(decode(data), site=args.site)
    except NumberError as exc:
        return _report(exc)
    return _store(args, specs, malformed)


def run_add(args: argparse.Namespace) -> int:
    from pool.inventory import NumberSpec

    spec = NumberSpec(
        number=args.number,
        kind=args.kind,
        site=args.site,
        target=args.target,
        forward_to=args.forward_to,
        label=args.label,
    )
    return _store(args, [spec])


def run_list(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from pool import admin
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> list[dict[str, Any]]:
        return await admin.list_numbers(
            db,
            advertiser_id=None,
            now_ms=now_ms(),
            site_key=args.site,
            kind=args.kind,
            status=args.status,
            limit=100_000,
        )

    rows = run_with_db(args, work)
    if args.json:
        print(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return 0
    for r in rows:
        held = " (leased)" if r["live_leases"] else ""
        print(
            f"{r['id']:>6}  {r['national']:<16} {r['kind']:<8} {r['status']:<9}"
            f" {r['site'] or '-':<12} -> {r['forward_to']}  {r['label']}{held}".rstrip()
        )
    return 0


def run_retire(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from pool import admin
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> str:
        number_id = await admin.find_number(db, args.number, advertiser_id=None)
        return await admin.retire(db, number_id=number_id, advertiser_id=None, now_ms=now_ms())

    status = run_with_db(args, work)
    if status == "retiring":
        print(f"{args.number}: retiring (a visitor holds it; it retires when the lease ends)")
    else:
        print(f"{args.number}: retired")
    return 0


def run_codes(args: argparse.Namespace) -> int:
    """List, add or delete the fixed codes of a source number."""
    from attribution import codes
    from backend.commands import run_with_db
    from pool.numbers import NumberError, to_e164
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> list[dict[str, Any]]:
        ref = args.number.strip()
        if ref.isdigit() and len(ref) < 9:
            number_id = await db.fetchval(
                "SELECT id FROM tracking_numbers WHERE id = :i", {"i": int(ref)}
            )
        else:
            number_id = await db.fetchval(
                "SELECT id FROM tracking_numbers WHERE number = :n", {"n": to_e164(ref, "JP")}
            )
        if number_id is None:
            raise LookupError(f"no tracking number {ref}")
        async with db.write() as tx:
            if args.add:
                await codes.add_fixed(
                    tx,
                    number_id=int(number_id),
                    code=args.add,
                    source_label=args.label,
                    campaign=args.campaign,
                    now_ms=now_ms(),
                )
            if args.delete:
                code_id = await tx.fetchval(
                    "SELECT id FROM fixed_codes WHERE number_id = :n AND code = :c",
                    {"n": number_id, "c": args.delete},
                )
                if code_id is None:
                    raise LookupError(f"no code {args.delete} on {ref}")
                await codes.delete_fixed(tx, code_id=int(code_id))
        return await codes.list_fixed(db, number_id=int(number_id))

    try:
        rows = run_with_db(args, work)
    except (codes.CodeError, NumberError, LookupError) as exc:
        return _report(exc)
    for r in rows:
        print(f"{r['code']:<7} {r['source_label'] or '-':<20} {r['campaign']}".rstrip())
    return 0
