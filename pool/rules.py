"""Source rules: which number a visit is shown, per target of a site.

:func:`choose_number_source` is pure: the caller (``/v1/session``) classifies the visit,
loads the site's rules once with :func:`load_rules`, and asks for each target (pool) of the
site which number to show. Rules are stored in ``source_rules`` (migration 0002).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pool.numbers import NumberError
from pool.store import Store, Tx, from_row
from pool.urls import query_pairs, url_host

KINDS = ("param", "referrer", "source")
ACTIONS = ("number", "pool", "original")
SOURCE_KEYS = ("channel", "source", "medium", "campaign")
# Channels that mean "we know nothing about where this visit came from".
UNTRACKED_CHANNELS = frozenset({"", "direct", "none", "(none)", "(direct)"})
UNTRACKED_POLICIES = ("pool", "original")
_MAX_TEXT = 200


@dataclass(frozen=True)
class SourceRule:
    """One stored rule. ``number`` is the E.164 of ``number_id`` (action 'number')."""

    rule_id: int
    kind: str
    match_key: str
    match_value: str
    action: str
    number_id: int | None = None
    number: str = ""
    target_id: int | None = None
    priority: int = 100
    label: str = ""


@dataclass(frozen=True)
class Visit:
    """What the rules look at: landing-page parameters, referrer and the classified source."""

    landing_params: Mapping[str, str] = field(default_factory=dict)
    referrer: str = ""
    channel: str = ""
    source: str = ""
    medium: str = ""
    campaign: str = ""

    @classmethod
    def from_url(cls, landing_url: str, referrer: str = "", **classified: str) -> Visit:
        """A visit from its landing URL (parameters read from the query; first value wins;
        none when the URL does not parse)."""
        params: dict[str, str] = {}
        for key, value in query_pairs(landing_url, keep_blank_values=True):
            params.setdefault(key, value)
        return cls(params, referrer, **classified)


@dataclass(frozen=True)
class NumberChoice:
    """The decision for one target.

    ``action``: 'number' (show the static ``number``/``number_id``), 'pool' (lease from
    ``pool_id``) or 'original' (no swap). ``reason``: 'param' | 'referrer' | 'source' (the
    kind of the rule that decided, ``rule_id`` set), 'pool' (no rule; the session pool),
    'untracked' (no rule, untracked visit, site keeps the original) or 'no_pool'.
    """

    action: str
    reason: str
    rule_id: int | None = None
    number_id: int | None = None
    number: str = ""
    pool_id: int | None = None


def _referrer_host(referrer: str) -> str:
    text = referrer.strip().lower()
    if not text:
        return ""
    # A referrer that does not parse has no host: it matches no referrer rule.
    host = url_host(text if "//" in text else "//" + text)
    return host.rstrip(".")


def _matches(rule: SourceRule, visit: Visit, host: str) -> bool:
    want = rule.match_value.strip().casefold()
    if rule.kind == "param":
        if rule.match_key not in visit.landing_params:
            return False
        return not want or visit.landing_params[rule.match_key].strip().casefold() == want
    if rule.kind == "referrer":
        return bool(host) and bool(want) and (host == want or host.endswith("." + want))
    if rule.kind == "source" and rule.match_key in SOURCE_KEYS:
        have: str = getattr(visit, rule.match_key)
        return bool(want) and have.strip().casefold() == want
    return False


def choose_number_source(
    visit: Visit,
    rules: Sequence[SourceRule],
    *,
    target_id: int,
    pool_id: int | None,
    untracked_policy: str = "pool",
) -> NumberChoice:
    """Decide which number one target of the site shows for this visit.

    Precedence, first match wins:

    1. a landing-page parameter rule (``?cp=flyer``, ``?utm_source=yahoo``; a rule with an
       empty value matches the parameter with any value);
    2. a referrer rule (the referrer's host is the rule's domain or a subdomain of it);
    3. a source rule on the classified ``channel`` / ``source`` / ``medium`` / ``campaign``
       (case-insensitive equality);
    4. the session pool of the target (``pool_id``).

    Within one kind, lower ``priority`` and then lower ``rule_id`` wins. Only rules whose
    ``target_id`` is None (every target) or ``target_id`` apply. A matching rule's action
    decides: 'number' shows its static source number, 'pool' leases from the session pool,
    'original' keeps the page's number. Without a matching rule, an *untracked* visit
    (channel empty or 'direct', i.e. no click id, campaign or referrer) keeps the original
    number when ``untracked_policy`` is 'original'; otherwise it gets the session pool.
    With no pool for the target, 'pool' outcomes become 'original' (reason 'no_pool').
    """
    host = _referrer_host(visit.referrer)
    applicable = [r for r in rules if r.target_id is None or r.target_id == target_id]
    for kind in KINDS:
        candidates = sorted(
            (r for r in applicable if r.kind == kind), key=lambda r: (r.priority, r.rule_id)
        )
        for rule in candidates:
            if not _matches(rule, visit, host):
                continue
            if rule.action == "number" and rule.number_id is not None:
                return NumberChoice("number", kind, rule.rule_id, rule.number_id, rule.number)
            if rule.action == "original":
                return NumberChoice("original", kind, rule.rule_id)
            if pool_id is None:
                return NumberChoice("original", "no_pool", rule.rule_id)
            return NumberChoice("pool", kind, rule.rule_id, pool_id=pool_id)
    if untracked_policy == "original" and visit.channel.strip().lower() in UNTRACKED_CHANNELS:
        return NumberChoice("original", "untracked")
    if pool_id is None:
        return NumberChoice("original", "no_pool")
    return NumberChoice("pool", "pool", pool_id=pool_id)


async def load_rules(db: Store | Tx, *, site_id: int) -> list[SourceRule]:
    """The site's rules, with the E.164 of each static number; retired numbers' rules skipped."""
    rows = await db.fetchall(
        "SELECT r.id, r.kind, r.match_key, r.match_value, r.action, r.number_id,"
        " r.target_id, r.priority, r.label, n.number, n.status FROM source_rules r"
        " LEFT JOIN tracking_numbers n ON n.id = r.number_id"
        " WHERE r.site_id = :s ORDER BY r.priority, r.id",
        {"s": site_id},
    )
    return [
        from_row(SourceRule, {**r, "number": r["number"] or ""}, rule_id="id")
        for r in rows
        if r["action"] != "number" or r["status"] == "active"
    ]


async def add_rule(
    tx: Tx,
    *,
    site_id: int,
    kind: str,
    match_key: str = "",
    match_value: str = "",
    action: str,
    number_id: int | None = None,
    target_id: int | None = None,
    priority: int = 100,
    label: str = "",
    now_ms: int,
) -> int:
    """Store a rule after checking it; :class:`NumberError` (with ``field``) when it is wrong.

    A 'number' rule needs an active ``source`` number of the same site.
    """
    if kind not in KINDS:
        raise NumberError(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if action not in ACTIONS:
        raise NumberError(f"action must be one of {', '.join(ACTIONS)}", field="action")
    for name, text in (("match_key", match_key), ("match_value", match_value), ("label", label)):
        if len(text) > _MAX_TEXT:
            raise NumberError(f"{name} is longer than {_MAX_TEXT} characters", field=name)
    if kind == "param" and not match_key.strip():
        raise NumberError("a param rule names the parameter in match_key", field="match_key")
    if kind == "source" and match_key not in SOURCE_KEYS:
        raise NumberError(f"match_key must be one of {', '.join(SOURCE_KEYS)}", field="match_key")
    if kind in ("referrer", "source") and not match_value.strip():
        raise NumberError(f"a {kind} rule needs a match_value", field="match_value")
    if not -1_000_000 <= priority <= 1_000_000:
        raise NumberError("priority is out of range", field="priority")
    if target_id is not None and not await tx.fetchval(
        "SELECT 1 FROM targets WHERE id = :t AND site_id = :s", {"t": target_id, "s": site_id}
    ):
        raise NumberError(f"target {target_id} is not a target of this site", field="target")
    if action == "number":
        row = await tx.fetchone(
            "SELECT kind, site_id, status FROM tracking_numbers WHERE id = :n", {"n": number_id}
        )
        if row is None or row["site_id"] != site_id:
            raise NumberError("a number rule needs a tracking number of this site", field="number")
        if row["kind"] != "source" or row["status"] != "active":
            raise NumberError("a number rule needs an active source number", field="number")
    elif number_id is not None:
        raise NumberError(f"an {action!r} rule takes no number", field="number")
    rule_id: int = await tx.fetchval(
        "INSERT INTO source_rules (site_id, target_id, kind, match_key, match_value, action,"
        " number_id, priority, label, created_ms) VALUES (:s, :t, :k, :mk, :mv, :a, :n, :p,"
        " :l, :now) RETURNING id",
        {
            "s": site_id,
            "t": target_id,
            "k": kind,
            "mk": match_key.strip(),
            "mv": match_value.strip() if kind != "referrer" else match_value.strip().lower(),
            "a": action,
            "n": number_id,
            "p": priority,
            "l": label.strip(),
            "now": now_ms,
        },
    )
    return rule_id
