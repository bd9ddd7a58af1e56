"""``callpath calls``: import call detail records, block callers, call options, notifications."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from backend.telephony.options import CALL_OPTIONS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("calls", help="calls: import CDRs, blocked callers, options, notifications")
    calls = p.add_subparsers(dest="calls_command", required=True, metavar="ACTION")

    imp = calls.add_parser("import", help="import a CSV of call detail records")
    imp.add_argument("file", help="CSV file ('-' for standard input)")
    imp.add_argument(
        "--map",
        required=True,
        help="field=Column pairs, e.g. caller=From,number=To,start=StartTime,duration=Duration"
        " (fields: id, caller, number, start, duration, talk, status, forwarded, recording)",
    )
    imp.add_argument("--provider", default="cdr", help="name the calls are kept under")
    imp.add_argument("--region", default="JP", help="country for numbers without +")
    imp.add_argument("--timezone", default="Asia/Tokyo", help="zone of times without offset")
    imp.add_argument("--no-header", action="store_true", help="no header row: map by number")
    imp.set_defaults(func=run_import)

    blk = calls.add_parser("block", help="refuse calls from a number or prefix (着信拒否)")
    blk.add_argument("advertiser", type=int)
    blk.add_argument("pattern", help="an E.164 number, or with --prefix a '+digits' prefix")
    blk.add_argument("--prefix", action="store_true")
    blk.add_argument("--note", default="")
    blk.add_argument("--remove", action="store_true", help="lift the block instead")
    blk.set_defaults(func=run_block)

    opt = calls.add_parser("options", help="an advertiser's call options")
    opt.add_argument("advertiser", type=int)
    # One flag per row of CALL_OPTIONS; `default` (or 0 / an empty value) goes back to
    # the setting.
    for option in CALL_OPTIONS:
        if option.kind is bool:
            opt.add_argument(option.flag, dest=option.name, choices=["on", "off", "default"])
        elif option.choices:
            opt.add_argument(option.flag, dest=option.name, choices=[*option.choices, "default"])
        elif option.kind is int:
            opt.add_argument(
                option.flag, dest=option.name, type=int, help=f"{option.help} (0: default)"
            )
        else:
            opt.add_argument(option.flag, dest=option.name, help=option.help)
    opt.set_defaults(func=run_options)

    from backend.notify.targets import EVENTS

    notify = calls.add_parser("notify", help="where new calls are announced")
    notify.add_argument("advertiser", type=int, nargs="?")
    target = notify.add_mutually_exclusive_group()
    target.add_argument("--webhook", metavar="URL", help="POST signed JSON to URL")
    target.add_argument("--email", metavar="ADDRESS", help="send mail to ADDRESS")
    target.add_argument("--remove", type=int, metavar="ID", help="deactivate target ID")
    notify.add_argument("--secret", default="", help="key that signs webhook bodies")
    notify.add_argument("--event", choices=list(EVENTS), default="completed")
    notify.add_argument(
        "--show-callers",
        action="store_true",
        help="send caller numbers in full (masked by default)",
    )
    notify.set_defaults(func=run_notify)


class _Progress:
    """Plain progress on stderr when it is a terminal: no dependency, no noise in logs."""

    def __init__(self, total: int) -> None:
        self.total = max(total, 1)
        self.enabled = sys.stderr.isatty()
        self._last = -1

    def __call__(self, done: int) -> None:
        percent = done * 100 // self.total
        if self.enabled and percent != self._last:
            self._last = percent
            bar = "#" * (percent // 4)
            print(f"\r[{bar:<25}] {done}/{self.total} rows", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def run_import(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from backend.telephony import cdr, matching

    mapping = cdr.parse_mapping(args.map)
    if args.file == "-":
        text = sys.stdin.read()
    else:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    progress = _Progress(len(lines) - (0 if args.no_header else 1))

    async def work(db: Any, settings: Any) -> Any:
        return await cdr.import_rows(
            db,
            cdr.read_rows(lines, header=not args.no_header),
            mapping,
            provider=args.provider,
            region=args.region,
            timezone=args.timezone,
            progress=progress,
            first_line=1 if args.no_header else 2,
            matcher=matching.matcher(settings),
        )

    result = run_with_db(args, work)
    progress.close()
    for line, message in result.errors[:20]:
        print(f"line {line}: {message}", file=sys.stderr)
    if len(result.errors) > 20:
        print(f"... and {len(result.errors) - 20} more errors", file=sys.stderr)
    print(
        f"imported {result.imported} calls, {result.duplicates} already known,"
        f" {len(result.errors)} rows refused"
    )
    return 1 if result.errors and not result.imported and not result.duplicates else 0


def run_block(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from backend.telephony import config

    kind = "prefix" if args.prefix else "exact"

    async def work(db: Any, settings: Any) -> str:
        if args.remove:
            removed = await config.unblock(
                db, advertiser_id=args.advertiser, pattern=args.pattern, kind=kind
            )
            return "removed" if removed else "no such block"
        stored = await config.block(
            db, advertiser_id=args.advertiser, pattern=args.pattern, kind=kind, note=args.note
        )
        return f"blocked {kind} {stored}"

    print(run_with_db(args, work))
    return 0


def run_options(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db
    from backend.telephony import config

    values: dict[str, Any] = {}
    for option in CALL_OPTIONS:
        given = getattr(args, option.name)
        if given is None:
            continue
        if given in ("default", "", 0):
            values[option.column] = None
        elif option.kind is bool:
            values[option.column] = given == "on"
        else:
            values[option.column] = given

    async def work(db: Any, settings: Any) -> Any:
        return await config.set_options(db, advertiser_id=args.advertiser, **values)

    current = run_with_db(args, work)
    print(orjson.dumps(current).decode())
    return 0


def run_notify(args: argparse.Namespace) -> int:
    from attribution.outbound import OutboundPolicy
    from backend.commands import run_with_db
    from backend.notify import targets

    async def work(db: Any, settings: Any) -> Any:
        if args.remove is not None:
            return {"removed": await targets.remove_target(db, args.remove)}
        if args.webhook or args.email:
            if args.advertiser is None:
                raise ValueError("name the advertiser the target belongs to")
            target_id = await targets.add_target(
                db,
                advertiser_id=args.advertiser,
                kind="webhook" if args.webhook else "email",
                address=args.webhook or args.email,
                secret=args.secret,
                event=args.event,
                policy=OutboundPolicy.parse(settings.outbound_allow_hosts),
                show_callers=args.show_callers,
            )
            return {"id": target_id}
        return await targets.list_targets(db, args.advertiser)

    print(orjson.dumps(run_with_db(args, work), option=orjson.OPT_INDENT_2).decode())
    return 0
