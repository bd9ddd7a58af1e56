"""``callpath simulate``: synthetic traffic through the real pool and matcher; pool sizing."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from backend.commands._command import Subparsers, add_command

if TYPE_CHECKING:
    from pool.store import Store


def register(sub: Subparsers) -> None:
    p = add_command(sub, "simulate", run, help="simulate traffic and calls to size a number pool")
    p.add_argument("--visitors", type=float, default=400.0, help="visitors per day")
    p.add_argument("--days", type=int, default=3, help="days to simulate")
    p.add_argument("--visit-minutes", type=float, default=4.0, help="mean time on site")
    p.add_argument("--call-share", type=float, default=0.04, help="share of visitors who call")
    p.add_argument(
        "--repeat-share", type=float, default=0.2, help="share of callers who call again"
    )
    p.add_argument("--late-hours", type=float, default=3.0, help="mean delay of late callers")
    p.add_argument("--target", type=float, default=0.95, help="correct share to reach")
    p.add_argument(
        "--codes", action="store_true", help="visit codes on: tapped calls carry the visit's code"
    )
    p.add_argument(
        "--tap-share", type=float, default=0.0, help="share of visitors who tap the tel: link"
    )
    p.add_argument(
        "--code-adoption",
        type=float,
        default=1.0,
        help="share of tapped calls whose phone sends the code",
    )
    p.add_argument(
        "--redial-share",
        type=float,
        default=0.0,
        help="share of callers who redial from the call history 1-72 h later",
    )
    p.add_argument(
        "--size",
        type=int,
        default=0,
        help="also simulate this pool size (e.g. half of another run's recommendation)",
    )
    p.add_argument("--no-overflow", action="store_true", help="pool without overflow number")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same traffic)")


def _bounded(args: argparse.Namespace) -> str | None:
    if not 0 < args.visitors <= 100_000:
        return "--visitors must be between 0 and 100000"
    if not 1 <= args.days <= 60:
        return "--days must be between 1 and 60"
    if not 0 <= args.size <= 10_000:
        return "--size must be between 0 and 10000"
    for name in (
        "call_share",
        "repeat_share",
        "target",
        "tap_share",
        "code_adoption",
        "redial_share",
    ):
        if not 0 <= getattr(args, name) <= 1:
            return f"--{name.replace('_', '-')} must be between 0 and 1"
    if args.visit_minutes <= 0 or args.late_hours <= 0:
        return "--visit-minutes and --late-hours must be positive"
    return None


def sqlite_databases(
    folder: Path,
) -> Callable[[], AbstractAsyncContextManager[Store]]:
    """Opens a fresh, migrated SQLite database in ``folder`` at each call (sim0.db, ...)."""
    from backend.storage import open_database

    counter = itertools.count()

    @asynccontextmanager
    async def database() -> AsyncIterator[Store]:
        db = await open_database(f"sqlite:///{folder / f'sim{next(counter)}.db'}")
        try:
            yield db
        finally:
            await db.close()

    return database


def run(args: argparse.Namespace) -> int:
    """Drive synthetic visits and calls through the real pool and matcher on a temporary
    database and recommend a pool size. Lease timings, the heartbeat and the late-call
    window come from your settings (CALLPATH_LEASE_*, CALLPATH_HEARTBEAT_SECONDS,
    CALLPATH_LATE_CALL_WINDOW_SECONDS)."""
    from attribution.simulate import PoolShape, Traffic, recommend, report
    from backend.commands import settings_from

    problem = _bounded(args)
    if problem:
        print(f"callpath simulate: {problem}")
        return 2
    settings = settings_from(args)
    traffic = Traffic(
        visitors_per_day=args.visitors,
        days=args.days,
        visit_minutes=args.visit_minutes,
        call_share=args.call_share,
        repeat_share=args.repeat_share,
        late_hours=args.late_hours,
        seed=args.seed,
        tap_share=args.tap_share,
        code_adoption=args.code_adoption,
        redial_share=args.redial_share,
    )
    shape = PoolShape(
        ttl_ms=settings.lease_ttl_seconds * 1000,
        grace_ms=settings.lease_grace_seconds * 1000,
        cooldown_ms=settings.lease_cooldown_seconds * 1000,
        heartbeat_ms=settings.heartbeat_seconds * 1000,
        overflow=not args.no_overflow,
        late_window_ms=settings.late_call_window_seconds * 1000,
        codes=args.codes,
        code_life_ms=settings.visit_code_days * 86_400_000,
    )

    with tempfile.TemporaryDirectory(prefix="callpath-sim-") as tmp:
        # A fresh, migrated SQLite file per pool size; the user's database is untouched.
        rec = asyncio.run(
            recommend(
                traffic,
                sqlite_databases(Path(tmp)),
                shape=shape,
                target=args.target,
                extra_sizes=[args.size] if args.size else [],
            )
        )
    print(report(rec))
    return 0
