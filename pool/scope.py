"""The tenant boundary: which advertisers and sites a user or token may read.

Every query that reads tenant data (dashboard, API, exports, reports, conversion batches,
pool administration) limits its rows with a :class:`Scope` rather than writing the
advertiser / site condition itself, so the one rule that must never differ is written once::

    scope = Scope.of(advertiser_id)             # None: every advertiser (an administrator)
    where, params = scope.condition("c")        # on calls c (advertiser_id, site_id)
    rows = await db.fetchall(f"SELECT ... FROM calls c WHERE {where}", params)

The condition uses the store's named ``:name`` parameters, which both stores run unchanged
(the PostgreSQL store turns them into ``$n``). It lives in ``pool/`` so that ``pool/``,
``attribution/`` and ``backend/`` can all import it (``pool/`` imports neither of the others).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check(name: str) -> str:
    # Column and alias names are spliced into SQL: only plain identifiers, never input.
    if not _IDENT.match(name):
        raise ValueError(f"not an SQL identifier: {name!r}")
    return name


def _listed(ids: frozenset[int], key: str, params: dict[str, Any]) -> str:
    """`` = :key`` or `` IN (:key0, ...)`` for ``ids`` (their values into ``params``); ""
    for no ids, which callers turn into a condition that reaches nothing."""
    if not ids:
        return ""
    if len(ids) == 1:
        params[key] = next(iter(ids))
        return f" = :{key}"
    keys = []
    for i, value in enumerate(sorted(ids)):
        params[f"{key}{i}"] = value
        keys.append(f":{key}{i}")
    return f" IN ({', '.join(keys)})"


@dataclass(frozen=True)
class Scope:
    """The advertisers and sites someone may read; ``None`` for either means all of them.

    An administrator's scope is :meth:`everything`; a member's or member token's is
    :meth:`of` their one advertiser. A filter (``?site_id=``, the dashboard's site menu)
    narrows it with :meth:`narrow`, which can only take away, never add. An empty set
    reaches nothing (the condition is false), so a scope never fails open.
    """

    advertiser_ids: frozenset[int] | None = None
    site_ids: frozenset[int] | None = None

    @classmethod
    def everything(cls) -> Scope:
        """Every advertiser and site (an administrator, the CLI)."""
        return cls()

    @classmethod
    def of(cls, advertiser_id: int | None, site_id: int | None = None) -> Scope:
        """One advertiser (None: every one), optionally one site of it."""
        return cls(
            None if advertiser_id is None else frozenset({int(advertiser_id)}),
            None if site_id is None else frozenset({int(site_id)}),
        )

    @property
    def is_everything(self) -> bool:
        """Whether nothing is left out (no condition needed)."""
        return self.advertiser_ids is None and self.site_ids is None

    @property
    def advertiser_id(self) -> int | None:
        """The scope's one advertiser, None for every advertiser.

        A scope of several advertisers, or of none (a filter outside the scope), has no
        single id; asking for it is an error rather than None, which would mean all.
        """
        return self._one(self.advertiser_ids, "advertiser")

    @property
    def site_id(self) -> int | None:
        """The scope's one site, None for every site (an error for several or none)."""
        return self._one(self.site_ids, "site")

    @staticmethod
    def _one(ids: frozenset[int] | None, what: str) -> int | None:
        if ids is None:
            return None
        if len(ids) != 1:
            raise ValueError(f"the scope has {len(ids)} {what}s, not one")
        return next(iter(ids))

    def narrow(
        self,
        *,
        advertiser_id: int | None = None,
        site_id: int | None = None,
    ) -> Scope:
        """This scope cut to one advertiser and/or one site (None: not cut).

        Asking for an advertiser or site outside the scope gives a scope that reaches
        nothing; callers that must answer 403/404 instead check :meth:`allows` first.
        """
        advertisers, sites = self.advertiser_ids, self.site_ids
        if advertiser_id is not None:
            wanted = frozenset({int(advertiser_id)})
            advertisers = wanted if advertisers is None else advertisers & wanted
        if site_id is not None:
            wanted = frozenset({int(site_id)})
            sites = wanted if sites is None else sites & wanted
        return Scope(advertisers, sites)

    def allows(self, advertiser_id: int | None, site_id: int | None = None) -> bool:
        """Whether a record of this advertiser (and site, when given) is in the scope.

        A record without an advertiser (an unmatched call) is only in a scope that spans
        every advertiser.
        """
        if self.advertiser_ids is not None and advertiser_id not in self.advertiser_ids:
            return False
        return not (
            self.site_ids is not None and site_id is not None and site_id not in self.site_ids
        )

    def condition(
        self,
        alias: str = "",
        *,
        advertiser: str | None = "advertiser_id",
        site: str | None = "site_id",
        name: str = "scope",
    ) -> tuple[str, dict[str, Any]]:
        """The SQL condition keeping rows of ``alias`` in the scope, and its parameters.

        ``advertiser`` and ``site`` name the row's columns (``site`` None: the table has no
        site; ``advertiser`` None: the advertiser is the site's, looked up in ``sites``).
        ``name`` prefixes the parameters, for two scopes in one statement. The condition is
        ``1 = 1`` for a scope of everything.
        """
        prefix = f"{_check(alias)}." if alias else ""
        parts: list[str] = []
        params: dict[str, Any] = {}

        def listed(ids: frozenset[int], key: str) -> str:
            return _listed(ids, key, params)

        if self.advertiser_ids is not None:
            test = listed(self.advertiser_ids, f"{_check(name)}_adv")
            if not test:
                return "1 = 0", {}
            if advertiser is not None:
                parts.append(f"{prefix}{_check(advertiser)}{test}")
            elif site is not None:
                parts.append(
                    f"{prefix}{_check(site)} IN (SELECT id FROM sites WHERE advertiser_id{test})"
                )
            else:
                raise ValueError("a scope condition needs an advertiser or a site column")
        if self.site_ids is not None:
            test = listed(self.site_ids, f"{name}_site")
            if not test:
                return "1 = 0", {}
            if site is not None:
                parts.append(f"{prefix}{_check(site)}{test}")
            elif advertiser is not None:
                # A table without sites (advertisers, tokens): the advertisers of the sites.
                parts.append(
                    f"{prefix}{_check(advertiser)} IN (SELECT advertiser_id FROM sites"
                    f" WHERE id{test})"
                )
            else:
                raise ValueError("a scope condition needs an advertiser or a site column")
        return " AND ".join(parts) or "1 = 1", params

    def call_condition(
        self, alias: str = "c", *, name: str = "scope"
    ) -> tuple[str, dict[str, Any]]:
        """The condition keeping calls ``alias`` in the scope (the tenant rule for calls).

        A call belongs to the advertiser of the target it reached (``calls.advertiser_id``,
        the tracking number's advertiser): an advertiser reads its own calls wherever they
        were made, on a shared site too, and never another advertiser's. The advertiser
        that owns a site (a portal) also reads every call made on it, whoever was called.
        ``1 = 1`` for a scope of everything.
        """
        if self.advertiser_ids is None:
            return self.condition(alias, name=name)
        return self._rule(
            alias,
            name,
            "({p}advertiser_id{test} OR {p}site_id IN"
            " (SELECT id FROM sites WHERE advertiser_id{test}))",
        )

    def session_condition(
        self, alias: str = "s", *, name: str = "scope"
    ) -> tuple[str, dict[str, Any]]:
        """The condition keeping visitor sessions ``alias`` in the scope.

        An advertiser reads the sessions of its own sites and, on a site another advertiser
        owns (a portal's shared site key), the sessions that were shown one of its numbers:
        those that held a lease from the pool of one of its targets. Sessions of a shared
        site that never saw its numbers are the portal's, not its.
        """
        if self.advertiser_ids is None:
            return self.condition(alias, advertiser=None, name=name)
        return self._rule(
            alias,
            name,
            "({p}site_id IN (SELECT id FROM sites WHERE advertiser_id{test})"
            " OR {p}id IN (SELECT scope_l.session_id FROM leases scope_l"
            " JOIN pools scope_p ON scope_p.id = scope_l.pool_id"
            " JOIN targets scope_t ON scope_t.id = scope_p.target_id"
            " WHERE scope_t.advertiser_id{test}))",
        )

    def _rule(self, alias: str, name: str, advertisers: str) -> tuple[str, dict[str, Any]]:
        """``advertisers`` (a template of ``{p}``, the alias's prefix, and ``{test}``, the
        advertisers' test) for this scope's advertisers, and its sites' condition."""
        assert self.advertiser_ids is not None
        prefix = f"{_check(alias)}." if alias else ""
        params: dict[str, Any] = {}
        test = _listed(self.advertiser_ids, f"{_check(name)}_adv", params)
        if not test:
            return "1 = 0", {}
        parts = [advertisers.format(p=prefix, test=test)]
        if self.site_ids is not None:
            sites = _listed(self.site_ids, f"{name}_site", params)
            if not sites:
                return "1 = 0", {}
            parts.append(f"{prefix}site_id{sites}")
        return " AND ".join(parts), params

    def allows_call(
        self, advertiser_id: int | None, site_advertiser_id: int | None, site_id: int | None
    ) -> bool:
        """Whether one call is in the scope (:meth:`call_condition` for a row): credited to
        an advertiser of the scope, or made on a site one of them owns."""
        return self.allows(advertiser_id, site_id) or (
            site_advertiser_id is not None and self.allows(site_advertiser_id, site_id)
        )

    def and_condition(self, alias: str = "", **columns: Any) -> tuple[str, dict[str, Any]]:
        """:meth:`condition` as `` AND …`` to append to a WHERE, or ``""`` for everything."""
        if self.is_everything:
            return "", {}
        where, params = self.condition(alias, **columns)
        return f" AND {where}", params

    def where_condition(self, alias: str = "", **columns: Any) -> tuple[str, dict[str, Any]]:
        """:meth:`condition` as `` WHERE …``, or ``""`` for everything."""
        if self.is_everything:
            return "", {}
        where, params = self.condition(alias, **columns)
        return f" WHERE {where}", params


EVERYTHING = Scope()
"""The scope of an administrator and of the command line."""


def scope_of(advertiser_id: int | None) -> Scope:
    """The scope of a caller given as an advertiser id (None: every advertiser)."""
    return EVERYTHING if advertiser_id is None else Scope.of(advertiser_id)
