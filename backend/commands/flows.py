"""``callpath flows``: a business number's (target's) call flow from the command line.

- ``callpath flows set TARGET flow.json [--note TEXT]`` checks and stores a new version
  (``-`` reads standard input; a flow that does not check is refused naming the step);
- ``callpath flows show TARGET [--version N]`` prints the flow in force (or version N);
- ``callpath flows history TARGET`` lists every version, newest first;
- ``callpath flows rollback TARGET VERSION`` puts version VERSION back in force;
- ``callpath flows remove TARGET`` stores an empty version: plain forwarding again.

``--number N`` or ``--source LABEL`` on ``set``, ``show`` and ``remove`` names the flow of
one of the advertiser's tracking numbers or of a source label instead of the target's own
(a call takes the most specific: number > source > target); ``history`` lists every flow's
versions, each with the number or source it is for.

TARGET is a target id (``callpath numbers`` and the dashboard show them). A running
server follows the change at its next routing refresh.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

AUTHOR = "cli"


def _scoped(parser: argparse.ArgumentParser) -> None:
    one = parser.add_mutually_exclusive_group()
    one.add_argument("--number", default="", help="the flow of this tracking number")
    one.add_argument("--source", default="", help="the flow of this source label")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("flows", help="call flows of business numbers (targets)")
    flows = p.add_subparsers(dest="flows_command", required=True, metavar="ACTION")
    put = flows.add_parser("set", help="check and store a new version of a target's flow")
    put.add_argument("target", type=int, help="target id")
    put.add_argument("file", help="the flow as JSON ('-' for standard input)")
    put.add_argument("--note", default="", help="why it changed (kept with the version)")
    _scoped(put)
    put.set_defaults(func=run_set)
    show = flows.add_parser("show", help="print the flow in force (or one version)")
    show.add_argument("target", type=int)
    show.add_argument("--version", type=int, default=0)
    _scoped(show)
    show.set_defaults(func=run_show)
    hist = flows.add_parser("history", help="every version: who, when, why")
    hist.add_argument("target", type=int)
    hist.set_defaults(func=run_history)
    back = flows.add_parser("rollback", help="put an earlier version back in force")
    back.add_argument("target", type=int)
    back.add_argument("version", type=int)
    back.set_defaults(func=run_rollback)
    remove = flows.add_parser("remove", help="forward the target's calls plainly again")
    remove.add_argument("target", type=int)
    _scoped(remove)
    remove.set_defaults(func=run_remove)


def _run(args: argparse.Namespace, work: Any) -> int:
    """Run ``work(db)``; a refused flow or an unknown target is one line on stderr, exit 2."""
    from backend.commands import run_with_db
    from backend.telephony.flowdoc import FlowError

    try:
        out = run_with_db(args, lambda db, _settings: work(db))
    except FlowError as exc:
        print(f"flow refused: {exc}", file=sys.stderr)
        return 2
    except LookupError as exc:
        print(str(exc).strip("'\""), file=sys.stderr)
        return 2
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 0


def _scope(args: argparse.Namespace) -> dict[str, str]:
    return {"number": args.number, "source": args.source}


def _which(args: argparse.Namespace) -> str:
    """How a message names the flow: ``target 3`` or ``target 3 (number +8150…)``."""
    extra = f"number {args.number}" if args.number else f"source {args.source}"
    return f"target {args.target}" + (f" ({extra})" if args.number or args.source else "")


def _read(name: str) -> Any:
    raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    return orjson.loads(raw)


def run_set(args: argparse.Namespace) -> int:
    from backend.telephony import flowdoc, flowstore
    from pool.scope import EVERYTHING

    try:
        raw = _read(args.file)
    except (OSError, orjson.JSONDecodeError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 2

    async def work(db: Any) -> str:
        if raw is None:
            raise flowdoc.FlowError("flow", "must be a JSON object (use `flows remove`)")
        version = await flowstore.save(
            db, EVERYTHING, args.target, raw, author=AUTHOR, note=args.note, **_scope(args)
        )
        return f"{_which(args)}: flow version {version} in force"

    return _run(args, work)


def run_show(args: argparse.Namespace) -> int:
    from backend.telephony import flowstore
    from pool.scope import EVERYTHING

    async def work(db: Any) -> str:
        found: dict[str, Any] | None
        if args.version:
            found = await flowstore.version(db, EVERYTHING, args.target, args.version)
        else:
            found = await flowstore.current(db, EVERYTHING, args.target, **_scope(args))
        if found is None or found["flow"] is None:
            return f"{_which(args)}: no flow (calls are forwarded plainly)"
        return orjson.dumps(found["flow"], option=orjson.OPT_INDENT_2).decode()

    return _run(args, work)


def run_history(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from backend.telephony import flowstore
    from pool.scope import EVERYTHING

    async def work(db: Any) -> str:
        lines = []
        for v in await flowstore.history(db, EVERYTHING, args.target, every=True):
            when = datetime.fromtimestamp(v["created_ms"] / 1000, UTC).strftime("%Y-%m-%d %H:%M")
            which = f"number {v['number']}" if v["number"] else ""
            which = which or (f"source {v['source']}" if v["source"] else "target")
            line = f"{v['version']:>4}  {when} UTC  {which}  {v['author']}  {v['note']}"
            lines.append(line.rstrip())
        return "\n".join(lines) or f"target {args.target}: no flow was ever set"

    return _run(args, work)


def run_rollback(args: argparse.Namespace) -> int:
    from backend.telephony import flowstore
    from pool.scope import EVERYTHING

    async def work(db: Any) -> str:
        version = await flowstore.rollback(db, EVERYTHING, args.target, args.version, author=AUTHOR)
        return f"target {args.target}: version {args.version} in force again as version {version}"

    return _run(args, work)


def run_remove(args: argparse.Namespace) -> int:
    from backend.telephony import flowstore
    from pool.scope import EVERYTHING

    async def work(db: Any) -> str:
        version = await flowstore.save(
            db, EVERYTHING, args.target, None, author=AUTHOR, **_scope(args)
        )
        return f"{_which(args)}: flow removed (version {version})"

    return _run(args, work)
