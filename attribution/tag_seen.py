"""Where and when each site's snippet tag was last seen at work.

The dashboard's getting-started checklist and the site page say "tag seen on
https://www.example.jp at 12:03": proof that the tag pasted into the site reaches callpath.
Each kept page view reports its page's origin; a process writes it at most once a minute
per site and origin (:class:`TagSeen` remembers what it wrote, in memory), so the visit
path pays one small unit of work a minute per site, not one per page view. The write goes
through ``transact``, which leaves the store's ``generation`` alone: it does not make the
ingest pipeline read its cached sites again.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from pool.store import Row, Store, Tx

WRITE_EVERY_S = 60.0
MAX_HOSTS = 20  # origins kept per site: a site without domains takes any page's
MAX_REMEMBERED = 10_000


def page_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) page URL, lower-cased; None for anything else."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host or len(host) > 253:
        return None
    return f"{parts.scheme.lower()}://{host}" + (f":{port}" if port else "")


class TagSeen:
    """Records, at most once a minute per site and origin, that the tag reported a page."""

    def __init__(self, every_s: float = WRITE_EVERY_S) -> None:
        self.every_s = every_s
        self._written: dict[tuple[int, str], float] = {}

    def due(self, site_id: int, origin: str) -> bool:
        """Whether this process should write (site, origin) now; remembers that it will."""
        now = time.monotonic()
        key = (site_id, origin)
        last = self._written.get(key)
        if last is not None and now - last < self.every_s:
            return False
        if len(self._written) >= MAX_REMEMBERED:
            self._written.clear()
        self._written[key] = now
        return True

    async def record(self, db: Store, site_id: int, url: str, now_ms: int) -> None:
        """Note a page view of ``url`` on site ``site_id`` (written when due)."""
        origin = page_origin(url)
        if origin is None or not self.due(site_id, origin):
            return

        async def unit(tx: Tx) -> None:
            await tx.execute(
                "INSERT INTO site_tag_hosts (site_id, origin, last_seen_ms)"
                " SELECT :s, :o, :t WHERE (SELECT COUNT(*) FROM site_tag_hosts"
                " WHERE site_id = :s) < :max OR EXISTS (SELECT 1 FROM site_tag_hosts"
                " WHERE site_id = :s AND origin = :o)"
                " ON CONFLICT (site_id, origin) DO UPDATE SET last_seen_ms = :t",
                {"s": site_id, "o": origin, "t": now_ms, "max": MAX_HOSTS},
            )

        await db.transact(unit)


async def seen_hosts(db: Store, site_id: int) -> list[Row]:
    """The origins a site's tag was seen on, the latest first."""
    return await db.fetchall(
        "SELECT origin, last_seen_ms FROM site_tag_hosts WHERE site_id = :s"
        " ORDER BY last_seen_ms DESC",
        {"s": site_id},
    )
