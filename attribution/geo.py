"""Country, region and city of an IP address from a GeoIP2 / GeoLite2 City database.

The database path is a setting; without one every look-up is empty. The address itself is
used only in memory for the look-up and never stored.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

import geoip2.database
import geoip2.errors


@dataclass(frozen=True)
class Geo:
    """Where an address is, as far as the database knows ('' when unknown)."""

    country: str = ""
    region: str = ""
    city: str = ""


UNKNOWN = Geo()


class GeoLookup:
    """Look-ups against one City database, opened once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._reader = geoip2.database.Reader(path) if path else None

    def lookup(self, ip: str) -> Geo:
        """The place of ``ip``; UNKNOWN for private, malformed or absent addresses."""
        if self._reader is None or not ip:
            return UNKNOWN
        try:
            if not ipaddress.ip_address(ip).is_global:
                return UNKNOWN
            found = self._reader.city(ip)
        except (ValueError, geoip2.errors.AddressNotFoundError):
            return UNKNOWN
        return Geo(
            country=(found.country.iso_code or "")[:8],
            region=(found.subdivisions.most_specific.iso_code or "")[:16],
            city=(found.city.name or "")[:128],
        )

    def close(self) -> None:
        """Close the database file."""
        if self._reader is not None:
            self._reader.close()
            self._reader = None


@lru_cache(maxsize=8)
def geo_lookup(path: str) -> GeoLookup:
    """A shared :class:`GeoLookup` per database path (opening one costs a file map)."""
    return GeoLookup(path)
