"""``callpath billing``: pay-per-call statements from the command line (issue #20).

``statements MONTH`` lists every advertiser's month (status and totals); ``show ADVERTISER
MONTH`` prints one statement as JSON, or as CSV with ``--csv``; ``close MONTH`` closes the
month of every advertiser (or ``--advertiser``), leaving those with open disputes open
unless ``--force`` (exit status 1 when one was left open); ``send ADVERTISER MONTH`` records
that a closed statement was sent. A cron job can close last month on the first of each
month: ``callpath billing close $(date -d 'last month' +%Y-%m)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

ACTOR = "cli"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("billing", help="pay-per-call statements: list, show, close, send")
    billing = p.add_subparsers(dest="billing_command", required=True, metavar="ACTION")
    ls = billing.add_parser("statements", help="every advertiser's statement of a month")
    ls.add_argument("month", help="YYYY-MM")
    ls.set_defaults(func=run_statements)
    show = billing.add_parser("show", help="one statement as JSON (or CSV)")
    show.add_argument("advertiser", type=int)
    show.add_argument("month", help="YYYY-MM")
    show.add_argument("--csv", action="store_true", help="CSV instead of JSON")
    show.add_argument("--encoding", choices=["utf-8", "excel", "sjis"], default="utf-8")
    show.set_defaults(func=run_show)
    close = billing.add_parser("close", help="close (lock) a month")
    close.add_argument("month", help="YYYY-MM")
    close.add_argument("--advertiser", type=int, help="only this advertiser")
    close.add_argument("--force", action="store_true", help="close despite open disputes")
    close.set_defaults(func=run_close)
    send = billing.add_parser("send", help="record that a closed statement was sent")
    send.add_argument("advertiser", type=int)
    send.add_argument("month", help="YYYY-MM")
    send.set_defaults(func=run_send)


def run_statements(args: argparse.Namespace) -> int:
    from attribution.billing import statements
    from backend.commands import run_with_db

    async def work(db: Any, settings: Any) -> list[str]:
        lines = []
        for a in await db.fetchall("SELECT id, name FROM advertisers ORDER BY name, id"):
            s = await statements.statement(db, int(a["id"]), args.month, settings.billing_terms())
            b = s.body
            lines.append(
                f"{a['id']}\t{a['name']}\t{s.status}\t{b['billable']}\t{b['taxable_yen']}"
                f"\t{b['tax_yen']}\t{b['total_yen']}"
            )
        return lines

    print("advertiser\tname\tstatus\tbillable\ttaxable\ttax\ttotal")
    for line in _checked(lambda: run_with_db(args, work)):
        print(line)
    return 0


def run_show(args: argparse.Namespace) -> int:
    from attribution.billing import documents, statements
    from backend.commands import run_with_db

    async def work(db: Any, settings: Any) -> statements.Statement:
        return await statements.statement(db, args.advertiser, args.month, settings.billing_terms())

    s = _checked(lambda: run_with_db(args, work))
    if args.csv:
        sys.stdout.buffer.write(documents.statement_csv(s.body, encoding=args.encoding)[0])
    else:
        out = {"status": s.status, "closed_ms": s.closed_ms, "sent_ms": s.sent_ms, **s.body}
        print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def run_close(args: argparse.Namespace) -> int:
    from attribution.billing import statements
    from backend.commands import run_with_db
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> list[tuple[int, str]]:
        if args.advertiser is not None:
            ids = [args.advertiser]
        else:
            ids = [
                int(r["id"]) for r in await db.fetchall("SELECT id FROM advertisers ORDER BY id")
            ]
        done = []
        for advertiser in ids:
            if args.advertiser is None and await statements.stored_body(db, advertiser, args.month):
                continue  # closed before: closing every advertiser skips it
            try:
                async with db.write() as tx:
                    s = await statements.close(
                        tx, advertiser_id=advertiser, month=args.month,
                        terms=settings.billing_terms(), actor=ACTOR, now_ms=now_ms(),
                        force=args.force,
                    )  # fmt: skip
                done.append((advertiser, f"closed: {s.body['total_yen']}"))
            except statements.StatementConflict as exc:
                done.append((advertiser, f"left open: {exc}"))
        return done

    results = _checked(lambda: run_with_db(args, work))
    for advertiser, what in results:
        print(f"{advertiser}\t{what}")
    return 1 if any(what.startswith("left open") for _, what in results) else 0


def run_send(args: argparse.Namespace) -> int:
    from attribution.billing import statements
    from backend.commands import run_with_db
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> None:
        async with db.write() as tx:
            await statements.mark_sent(
                tx, advertiser_id=args.advertiser, month=args.month, actor=ACTOR, now_ms=now_ms()
            )

    _checked(lambda: run_with_db(args, work))
    print("sent")
    return 0


def _checked(run: Any) -> Any:
    """Run; a bad month, an unknown advertiser or a refused step ends the command with its
    reason (exit status 2) rather than a traceback."""
    from attribution.billing.money import BillingError

    try:
        return run()
    except (BillingError, LookupError) as exc:
        print(f"callpath billing: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
