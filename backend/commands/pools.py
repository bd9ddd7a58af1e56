"""``callpath pools``: create pools, show their health, manage source rules."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

import orjson


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("pools", help="create pools, show their health, manage source rules")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")

    create = actions.add_parser("create", help="create the pool of a site's business number")
    create.add_argument("--site", required=True, help="site key")
    create.add_argument("--target", required=True, help="business number shown on the page")
    create.add_argument("--label", default="", help="name of the pool (e.g. the branch)")
    create.add_argument("--ttl", type=int, help="idle seconds before a lease ends")
    create.add_argument("--grace", type=int, help="seconds an ended lease stays matchable")
    create.add_argument("--cooldown", type=int, help="seconds a released number rests")
    create.add_argument(
        "--advertiser",
        type=int,
        help="id of the advertiser the business number belongs to (default: the site's;"
        " another one shares the site key, docs/numbers.md)",
    )
    create.set_defaults(func=run_create)

    status = actions.add_parser("status", help="utilization, exhaustion and recommended size")
    status.add_argument("--site", default="", help="only this site")
    status.add_argument("--hours", type=int, default=24 * 7, help="window (default a week)")
    status.add_argument("--json", action="store_true", help="print JSON (with hourly figures)")
    status.set_defaults(func=run_status)

    policy = actions.add_parser("policy", help="what untracked visits and a full pool show")
    policy.add_argument("--site", required=True, help="site key")
    policy.add_argument("--untracked", default="", choices=["", "pool", "original"])
    policy.add_argument("--exhausted", default="", choices=["", "overflow", "original"])
    policy.set_defaults(func=run_policy)

    rule = actions.add_parser("rule", help="add a source rule")
    rule.add_argument("--site", required=True, help="site key")
    rule.add_argument("--kind", required=True, choices=["param", "referrer", "source"])
    rule.add_argument("--key", default="", help="parameter name, or channel/source/medium/...")
    rule.add_argument("--value", default="", help="value or referrer domain to match")
    rule.add_argument("--action", required=True, choices=["number", "pool", "original"])
    rule.add_argument("--number", default="", help="source number to show (action number)")
    rule.add_argument("--target", default="", help="only for this business number")
    rule.add_argument("--priority", type=int, default=100, help="lower is tried first")
    rule.add_argument("--label", default="", help="a note")
    rule.set_defaults(func=run_rule)

    rules = actions.add_parser("rules", help="list a site's source rules")
    rules.add_argument("--site", required=True, help="site key")
    rules.set_defaults(func=run_rules)

    drop = actions.add_parser("unrule", help="delete a source rule")
    drop.add_argument("rule_id", type=int)
    drop.set_defaults(func=run_unrule)


# The option each timing comes from: a timing refused names the flag that was given.
_FLAGS = {"ttl_seconds": "--ttl", "grace_seconds": "--grace", "cooldown_seconds": "--cooldown"}


def _guard(work: Any) -> Any:
    """Run a command body; domain errors become one clear line and exit status 1."""
    from pool.numbers import NumberError

    try:
        return work()
    except NumberError as exc:
        flag = _FLAGS.get(exc.field or "")
        field = f" ({flag})" if flag else f" ({exc.field})" if exc.field else ""
        print(f"callpath: {exc}{field}", file=sys.stderr)
        return None
    except LookupError as exc:
        if type(exc) is not LookupError:
            raise  # a KeyError or IndexError is a bug, never "not found"
        print(f"callpath: {exc}", file=sys.stderr)
        return None


def run_create(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from pool import admin
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> int:
        ttl = settings.lease_ttl_seconds if args.ttl is None else args.ttl
        grace = settings.lease_grace_seconds if args.grace is None else args.grace
        cooldown = settings.lease_cooldown_seconds if args.cooldown is None else args.cooldown
        return await admin.new_pool(
            db,
            site_key=args.site,
            target=args.target,
            label=args.label,
            ttl_ms=ttl * 1000,
            grace_ms=grace * 1000,
            cooldown_ms=cooldown * 1000,
            advertiser_id=None,
            now_ms=now_ms(),
            forward_countries=settings.forward_country_list(),
            target_advertiser=args.advertiser,
        )

    pool_id = _guard(lambda: run_with_db(args, work))
    if pool_id is None:
        return 1
    print(f"created pool {pool_id}; add numbers with: callpath numbers import FILE")
    return 0


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:00 UTC")


def run_status(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from pool import admin, health, leases
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> list[Any]:
        now = now_ms()
        # Stamp leases that idled out so live figures and retirements are current.
        await leases.sweep(db, now_ms=now)
        pools = await admin.list_pools(db, advertiser_id=None, site_key=args.site)
        return [
            await health.pool_health(
                db,
                pool_id=p["id"],
                now_ms=now,
                window_ms=max(1, args.hours) * health.HOUR_MS,
                safety=settings.pool_safety_factor,
                alert_at=settings.pool_alert_utilization,
            )
            for p in pools
        ]

    reports = run_with_db(args, work)
    if args.json:
        print(orjson.dumps([r.to_dict() for r in reports], option=orjson.OPT_INDENT_2).decode())
        return 0
    if not reports:
        print("no pools")
        return 0
    for r in reports:
        flag = "  ALERT: peak above threshold, add numbers" if r.alert else ""
        print(f"pool {r.pool_id} {r.name!r} (target {r.target}){flag}")
        print(f"  size {r.size}, live {r.live} ({r.utilization:.0%})")
        print(f"  peak {r.peak_utilization:.0%} in hour {_when(r.peak_hour_ms)}")
        print(
            f"  exhausted {r.exhausted_count} time(s) in all, {r.exhaustions_in_window} in"
            f" window; overflow number {r.overflow_number or 'none'}"
        )
        print(
            f"  peak arrivals {r.peak_arrivals_per_hour}/h, average hold"
            f" {r.avg_hold_ms // 60_000} min -> recommended size {r.recommended_size}"
        )
    return 0


def run_policy(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from pool import admin

    async def work(db: Any, settings: Any) -> dict[str, str]:
        return await admin.set_policies(
            db,
            site_key=args.site,
            advertiser_id=None,
            untracked_policy=args.untracked,
            exhausted_policy=args.exhausted,
        )

    now = run_with_db(args, work)
    print(
        f"site {now['site']}: untracked visits -> {now['untracked_policy']},"
        f" full pool -> {now['exhausted_policy']}"
    )
    return 0


def run_rule(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from pool import admin
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> int:
        return await admin.new_rule(
            db,
            site_key=args.site,
            advertiser_id=None,
            kind=args.kind,
            match_key=args.key,
            match_value=args.value,
            action=args.action,
            number=args.number,
            target=args.target,
            priority=args.priority,
            label=args.label,
            now_ms=now_ms(),
        )

    rule_id = _guard(lambda: run_with_db(args, work))
    if rule_id is None:
        return 1
    print(f"added rule {rule_id}")
    return 0


def run_rules(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from pool import admin

    async def work(db: Any, settings: Any) -> list[dict[str, Any]]:
        return await admin.list_rules(db, site_key=args.site, advertiser_id=None)

    for r in run_with_db(args, work):
        match = f"{r['match_key']}={r['match_value']}" if r["match_key"] else r["match_value"]
        shown = r["number"] or ""
        only = f" (only {r['target']})" if r["target"] else ""
        print(f"{r['id']:>5}  {r['kind']:<8} {match:<30} -> {r['action']} {shown}{only}")
    return 0


def run_unrule(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from pool import admin

    async def work(db: Any, settings: Any) -> None:
        await admin.delete_rule(db, rule_id=args.rule_id, advertiser_id=None)

    run_with_db(args, work)
    print(f"deleted rule {args.rule_id}")
    return 0
