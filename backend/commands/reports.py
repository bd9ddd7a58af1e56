"""``callpath reports``: the reports' daily roll-ups (``attribution.rollups``).

``callpath reports rebuild [--site ID]...`` rolls every closed day up again from the
sessions (after restoring a backup, importing sessions written with a past time, or to be
sure); ``callpath reports refresh`` does what the server's periodic round does (days not yet
rolled up and days marked changed), all of them at once; ``callpath reports status`` says
how many site-days are rolled up, marked changed, and still to do.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from attribution import rollups


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("reports", help="the reports' daily roll-ups: rebuild, refresh, status")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = actions.add_parser("rebuild", help="roll every closed day up again")
    rebuild.add_argument("--site", type=int, action="append", help="only this site (repeatable)")
    rebuild.set_defaults(func=run_rebuild)
    refresh = actions.add_parser("refresh", help="roll up the days not rolled up or changed")
    refresh.set_defaults(func=run_refresh)
    status = actions.add_parser("status", help="site-days rolled up, changed, still to do")
    status.set_defaults(func=run_status)


def _report(done: rollups.RefreshResult, seconds: float) -> None:
    print(f"{done.built} site-days rolled up in {seconds:.1f} s; {done.left} left")


def run_rebuild(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> rollups.RefreshResult:
        if args.site:
            for site in args.site:
                if not await db.fetchval("SELECT 1 FROM sites WHERE id = :s", {"s": site}):
                    raise LookupError(f"no site has the id {site}")
        return await rollups.rebuild(db, now=now_ms(), site_ids=args.site)

    t0 = time.perf_counter()
    _report(run_with_db(args, work), time.perf_counter() - t0)
    return 0


def run_refresh(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> rollups.RefreshResult:
        return await rollups.refresh(db, now=now_ms(), budget=None)

    t0 = time.perf_counter()
    _report(run_with_db(args, work), time.perf_counter() - t0)
    return 0


def run_status(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> rollups.Status:
        return await rollups.status(db, now=now_ms())

    found = run_with_db(args, work)
    print(
        f"rolled up: {found.clean} site-days; marked changed: {found.changed};"
        f" not rolled up yet: {found.missing}"
    )
    return 0
