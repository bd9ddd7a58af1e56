"""``callpath export`` (paths, conversion files, GA4) and ``callpath purge`` (retention)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, datetime, timedelta
from typing import IO, Any
from zoneinfo import ZoneInfo

MAX_MS = 2**53


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from attribution.platforms import file_platforms

    files = list(file_platforms())  # the registry's platforms with an upload file
    p = sub.add_parser("export", help="export call paths, ad-platform conversions, GA4 events")
    p.add_argument(
        "what",
        choices=["paths", *files, "ga4", "batches"],
        help=f"paths: every call with its page path; {'/'.join(files)}: offline "
        "conversion file; ga4: send call events to GA4; batches: recorded conversion files",
    )
    p.add_argument(
        "action",
        nargs="?",
        choices=["list", "show", "download", "void"],
        help="batches: list them, show one's rows, download its file again, void it",
    )
    p.add_argument("batch_id", nargs="?", type=int, help="batches: the batch's id")
    p.add_argument("--from", dest="start", help="first day (YYYY-MM-DD, in --tz)")
    p.add_argument("--to", dest="end", help="last day, inclusive (YYYY-MM-DD, in --tz)")
    p.add_argument("--tz", default="Asia/Tokyo", help="time zone of the days (Asia/Tokyo)")
    p.add_argument("--site", help="only this site (id or site key)")
    p.add_argument("--advertiser", type=int, help="only this advertiser id")
    p.add_argument("--format", choices=["csv", "ndjson"], default="csv", help="paths format")
    p.add_argument("--form", choices=["wide", "long"], default="wide", help="paths shape")
    p.add_argument(
        "--encoding",
        choices=["utf-8", "excel", "sjis"],
        default="utf-8",
        help="paths CSV: utf-8; excel (Excel in Japanese: Shift_JIS when every character fits,"
        " else UTF-8 with a byte-order mark); sjis (Shift_JIS, '?' for a character it lacks)",
    )
    p.add_argument("--qualified", action="store_true", help="paths: only qualified calls")
    p.add_argument(
        "--min-confidence",
        choices=("exact", "high", "medium", "low"),
        help="paths: only calls matched with this confidence or better; conversions and ga4:"
        " the lowest confidence sent (default CALLPATH_UPLOAD_MIN_CONFIDENCE)",
    )
    p.add_argument(
        "--include-ambiguous",
        action="store_true",
        help="conversions and ga4: also send ambiguous and overflow matches",
    )
    p.add_argument("--show-callers", action="store_true", help="paths: do not mask callers")
    p.add_argument("--preview", action="store_true", help="conversions: do not record")
    p.add_argument("--platform", choices=files, help="batches list")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument("--no-progress", action="store_true", help="no progress on standard error")
    p.set_defaults(func=run)
    q = sub.add_parser("purge", help="delete sessions and page views older than the retention")
    q.add_argument("--days", type=int, help="retention in days (else CALLPATH_RETENTION_DAYS)")
    q.set_defaults(func=run_purge)


def day_ms(text: str | None, tz: str, *, end: bool) -> int | None:
    """Midnight (start of the day, or of the next day for ``end``) in ``tz``, as epoch ms."""
    if text is None:
        return None
    day = date.fromisoformat(text)
    if end:
        day += timedelta(days=1)
    return int(datetime.combine(day, datetime.min.time(), ZoneInfo(tz)).timestamp() * 1000)


class Progress:
    """A one-line progress bar on standard error, redrawn at most five times a second."""

    def __init__(self, total: int | None, stream: IO[str]) -> None:
        self.total = total
        self.stream = stream
        self.last = 0.0

    def __call__(self, done: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.last < 0.2:
            return
        self.last = now
        if self.total:
            share = min(1.0, done / self.total)
            bar = "#" * int(share * 30)
            line = f"\r[{bar:<30}] {share:4.0%} {done}/{self.total} calls"
        else:
            line = f"\r{done} calls"
        self.stream.write(line + ("\n" if final else ""))
        self.stream.flush()


async def _site_id(db: Any, site: str | None) -> int | None:
    if site is None:
        return None
    row = await db.fetchone(
        "SELECT id FROM sites WHERE site_key = :k OR (:n > 0 AND id = :n)",
        {"k": site, "n": int(site) if site.isdigit() else 0},
    )
    if row is None:
        raise LookupError(f"no site {site!r}")
    return int(row["id"])


def run(args: argparse.Namespace) -> int:
    from backend.commands import run_with_db

    if args.what == "batches":
        return run_batches(args)
    if args.action is not None or args.batch_id is not None:
        print(f"export {args.what} takes no action or batch id", file=sys.stderr)
        return 2
    start = day_ms(args.start, args.tz, end=False) or 0
    end = day_ms(args.end, args.tz, end=True) or MAX_MS
    out: IO[bytes] = open(args.output, "wb") if args.output else sys.stdout.buffer
    try:

        async def work(db: Any, settings: Any) -> None:
            site = await _site_id(db, args.site)
            if args.what == "paths":
                await _paths(db, args, start, end, site, out)
            elif args.what == "ga4":
                await _ga4(
                    db, start, end, site, settings.outbound_allow_hosts, _uploads(args, settings)
                )
            else:
                await _conversions(db, args, start, end, site, out, _uploads(args, settings))

        run_with_db(args, work)
    finally:
        if args.output:
            out.close()
    return 0


async def _paths(
    db: Any, args: argparse.Namespace, start: int, end: int, site: int | None, out: IO[bytes]
) -> None:
    from attribution.csv_encoding import encode_csv
    from attribution.exports import ExportFilter, stream_paths, where_clause

    confidences = None
    if args.min_confidence:
        levels = ("exact", "high", "medium", "low")
        confidences = levels[: levels.index(args.min_confidence) + 1]
    flt = ExportFilter(start, end, site, args.advertiser, args.qualified, confidences)
    progress = None
    if not args.no_progress and sys.stderr.isatty():
        where, params = where_clause(flt, db.dialect)
        total = await db.fetchval("SELECT COUNT(*) FROM calls c" + where, params)
        progress = Progress(int(total), sys.stderr)
    count = 0

    def seen(n: int) -> None:
        nonlocal count
        count = n
        if progress is not None:
            progress(n)

    chunks = stream_paths(
        db, flt, fmt=args.format, form=args.form, show_callers=args.show_callers, progress=seen
    )
    # The same encodings as the dashboard's and the API's downloads (docs/exports.md).
    encoded = await encode_csv(chunks, args.encoding if args.format == "csv" else "utf-8")
    async for chunk in encoded.body:
        out.write(chunk)
    out.flush()
    if progress is not None:
        progress(count, final=True)
    if args.format == "csv" and args.encoding != "utf-8":
        print(f"written in {encoded.charset}", file=sys.stderr)
    if encoded.replaced:
        print(f"{encoded.replaced} characters Shift_JIS lacks were written as '?'", file=sys.stderr)


def _uploads(args: argparse.Namespace, settings: Any) -> Any:
    """The upload policy of the command line over the server's default."""
    from attribution.upload_policy import UploadPolicy

    return UploadPolicy(
        min_confidence=args.min_confidence or settings.upload_min_confidence,
        include_ambiguous=args.include_ambiguous,
    )


async def _conversions(
    db: Any,
    args: argparse.Namespace,
    start: int,
    end: int,
    site: int | None,
    out: IO[bytes],
    uploads: Any,
) -> None:
    from attribution.conversions import export_conversions
    from pool.store import now_ms

    file = await export_conversions(
        db,
        platform=args.what,
        start_ms=start,
        end_ms=end,
        now_ms=now_ms(),
        site_id=site,
        advertiser_id=args.advertiser,
        timezone=args.tz,
        record=not args.preview,
        created_by="cli",
        policy=uploads,
    )
    out.write(file.content)
    out.flush()
    verb = "previewed" if args.preview else "exported"
    kept = f", id {file.batch_id}" if file.batch_id is not None else ""
    print(f"{verb} {file.count} conversions (batch {file.batch}{kept})", file=sys.stderr)
    for reason, n in file.skipped.items():
        print(f"skipped {n} calls: {reason} (see docs/exports.md)", file=sys.stderr)


async def _ga4(
    db: Any, start: int, end: int, site: int | None, allow_hosts: str, uploads: Any
) -> None:
    from attribution.conversions import push_ga4
    from attribution.outbound import OutboundPolicy
    from pool.store import now_ms

    if site is None:
        sites = [r["site_id"] for r in await db.fetchall("SELECT site_id FROM ga4_settings")]
    else:
        sites = [site]
    for site_id in sites:
        r = await push_ga4(
            db,
            site_id=site_id,
            start_ms=start,
            end_ms=end,
            now_ms=now_ms(),
            policy=OutboundPolicy.parse(allow_hosts),
            uploads=uploads,
        )
        print(f"site {site_id}: sent {r.sent}, failed {r.failed}, skipped {r.skipped}")


def run_batches(args: argparse.Namespace) -> int:
    """``callpath export batches list|show ID|download ID [-o FILE]|void ID``."""
    from backend.commands import run_with_db

    action = args.action or "list"
    if action != "list" and args.batch_id is None:
        print(f"export batches {action} needs a batch id", file=sys.stderr)
        return 2
    file: list[bytes] = []  # the file of ``download``, written once the database is closed

    async def work(db: Any, settings: Any) -> int:
        return await _batches(db, args, action, file)

    status: int = run_with_db(args, work)
    if file:
        if args.output:
            with open(args.output, "wb") as out:
                out.write(file[0])
        else:
            sys.stdout.buffer.write(file[0])
            sys.stdout.buffer.flush()
    return status


async def _batches(db: Any, args: argparse.Namespace, action: str, file: list[bytes]) -> int:
    from attribution import batches as bt
    from pool.store import now_ms

    scope = args.advertiser  # the CLI has full access; --advertiser narrows the view
    if action == "list":
        for b in await bt.list_batches(db, scope=scope, platform=args.platform, limit=1000):
            when = datetime.fromtimestamp(b.created_ms / 1000, ZoneInfo(args.tz))
            state = f"voided {b.voided_by}".rstrip() if b.voided_ms is not None else "active"
            adv = "all" if b.advertiser_id is None else str(b.advertiser_id)
            print(
                f"{b.id}\t{b.platform}\t{b.batch}\t{b.rows} rows\t"
                f"{when:%Y-%m-%d %H:%M:%S}\tadvertiser {adv}\t{b.created_by or '-'}\t{state}"
            )
        return 0
    batch = await bt.get_batch(db, args.batch_id, scope=scope)
    if batch is None:
        print(f"no conversion batch {args.batch_id}", file=sys.stderr)
        return 1
    if action == "show":
        print(f"{batch.id} {batch.platform} {batch.batch}: {batch.rows} rows")
        for r in await bt.batch_rows(db, batch.id, scope=scope):
            print(f"call {r['call_id']}\t{r['click_id']}\tstarted_ms {r['started_ms']}")
        return 0
    if action == "download":
        kept = await bt.batch_file(db, batch.id, scope=scope)
        if kept is None:
            print("this batch was recorded before files were kept", file=sys.stderr)
            return 1
        file.append(kept.content)
        print(f"{kept.filename}: {batch.rows} rows", file=sys.stderr)
        return 0
    try:
        voided = await bt.void_batch(db, batch.id, scope=scope, by="cli", now_ms=now_ms())
    except bt.AlreadyVoided:
        print(f"batch {batch.id} was voided before", file=sys.stderr)
        return 1
    assert voided is not None
    print(f"voided batch {voided.id} ({voided.rows} calls will be exported again)")
    return 0


def run_purge(args: argparse.Namespace) -> int:
    from backend.api.retention import purge
    from backend.commands import run_with_db

    async def work(db: Any, settings: Any) -> None:
        days = settings.retention_days if args.days is None else args.days
        if days <= 0:
            print("retention is 0 (keep forever): nothing purged")
            return
        r = await purge(db, days)
        assert r is not None
        print(
            f"purged {r.sessions} sessions and {r.page_views} page views older than"
            f" {days} days; {r.calls_unlinked} calls unlinked from their session"
        )

    run_with_db(args, work)
    return 0
