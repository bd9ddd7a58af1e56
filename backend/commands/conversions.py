"""``callpath conversions``: conversion actions from the command line.

``list`` the actions; ``export ACTION --from --to`` writes the action's upload file of the
calls not sent before (recorded, as from the API); ``adjust ACTION`` writes the adjustment
file of its conversions whose calls changed since sent (each change once); ``upload
ACTION`` runs its direct upload to the platform's API once (for cron, when the server's
own job is off).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from attribution import conversion_actions as ca
from attribution import conversion_adjustments as adj
from attribution.conversions import ConversionFile
from pool.scope import EVERYTHING


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("conversions", help="conversion actions: list, export, adjust")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("list", help="every conversion action")
    ls.add_argument("--site", type=int, help="only this site's")
    ls.set_defaults(func=run_list)
    exp = actions.add_parser("export", help="an action's upload file of new conversions")
    exp.add_argument("action_id", type=int)
    exp.add_argument("--from", dest="start", required=True, help="first day (YYYY-MM-DD)")
    exp.add_argument("--to", dest="end", required=True, help="last day, inclusive")
    exp.add_argument("--tz", default="Asia/Tokyo", help="time zone of the days")
    exp.add_argument("-o", "--output", help="file to write (default: standard output)")
    exp.set_defaults(func=run_export)
    ad = actions.add_parser("adjust", help="an action's adjustment file (retract / restate)")
    ad.add_argument("action_id", type=int)
    ad.add_argument("-o", "--output", help="file to write (default: standard output)")
    ad.set_defaults(func=run_adjust)
    upl = actions.add_parser("upload", help="send an action's new calls to its platform's API")
    upl.add_argument("action_id", type=int)
    upl.set_defaults(func=run_upload)


def run_list(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db

    async def work(db: Any, settings: Any) -> list[ca.Action]:
        return await ca.list_actions(db, EVERYTHING, site_id=args.site)

    found = run_with_db(args, work)
    sys.stdout.write(
        orjson.dumps([a.as_json() for a in found], option=orjson.OPT_INDENT_2).decode() + "\n"
    )
    return 0


def _write(file: ConversionFile, output: str | None) -> int:
    if output:
        Path(output).write_bytes(file.content)
    else:
        sys.stdout.buffer.write(file.content)
    print(f"{file.count} rows, batch {file.batch}", file=sys.stderr)
    return 0


async def _action(db: Any, action_id: int) -> ca.Action:
    action = await ca.get_action(db, action_id, EVERYTHING)
    if action is None:
        raise LookupError(f"no conversion action {action_id}")
    return action


def run_export(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from backend.commands.export import day_ms
    from pool.store import now_ms

    start = day_ms(args.start, args.tz, end=False)
    end = day_ms(args.end, args.tz, end=True)
    assert start is not None and end is not None

    async def work(db: Any, settings: Any) -> ConversionFile:
        from attribution.upload_policy import UploadPolicy

        return await ca.export_action(
            db,
            await _action(db, args.action_id),
            start_ms=start,
            end_ms=end,
            now_ms=now_ms(),
            created_by="command line",
            policy=UploadPolicy(min_confidence=settings.upload_min_confidence),
        )

    return _write(run_with_db(args, work), args.output)


def run_adjust(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> ConversionFile:
        action = await _action(db, args.action_id)
        return await adj.adjust_action(db, action, now_ms=now_ms(), created_by="command line")

    return _write(run_with_db(args, work), args.output)


def run_upload(args: argparse.Namespace) -> int:
    from attribution import conversion_uploads as up
    from attribution.outbound import OutboundPolicy
    from attribution.upload_policy import UploadPolicy
    from backend.commands import run_with_db
    from pool.store import now_ms

    async def work(db: Any, settings: Any) -> up.UploadResult:
        return await up.upload_action(
            db,
            await _action(db, args.action_id),
            now_ms=now_ms(),
            endpoints=up.Endpoints.from_settings(settings),
            policy=OutboundPolicy.parse(settings.outbound_allow_hosts),
            uploads=UploadPolicy(min_confidence=settings.upload_min_confidence),
        )

    result = run_with_db(args, work)
    sys.stdout.write(orjson.dumps(result.as_json(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 1 if result.failed else 0
