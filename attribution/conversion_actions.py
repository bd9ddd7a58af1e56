"""Conversion actions: several conversions per site and platform, each with its rule and value.

A site's calls can count as more than one conversion on a platform: 電話 (every call),
有効電話 (qualified calls), 新規電話 (first-time callers), one per branch (calls to one
target), 成約 (calls whose outcome is a win). Each :class:`Action` names the platform's
conversion action exactly (``name``), says which calls count (:meth:`Action.rule_sql`) and
what each is worth (:func:`call_value`); a call can count for several actions.

What an action sent, and where, is kept in ``conversion_sent`` (one row per action,
destination and call): the upload files and the API are the destination ``file``, each feed
URL its own (``feed:<id>``, :mod:`attribution.conversion_feeds`), so each gets a call once.
The row keeps the click id, conversion time and value written, which is what an adjustment
(:mod:`attribution.conversion_adjustments`) needs to retract or restate it later.

The click that counts, the file formats and the upload policy are those of
:mod:`attribution.conversions`; the site's own conversion settings there stay its default
conversion.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from attribution import batches, conversions, platforms
from attribution.call_work import OUTCOME_KINDS
from attribution.errors import FieldError
from attribution.upload_policy import UploadPolicy
from pool.scope import Scope
from pool.store import Store, Tx, from_row

VALUE_FROM = ("fixed", "call", "outcome")
# Platforms without an upload file whose actions go through their API only
# (attribution.conversion_uploads): Meta's Conversions API.
API_ONLY_PLATFORMS = ("meta",)
MAX_TALK_S = 86_400
_COLUMNS = (
    "id, site_id, platform, name, qualified_only, first_time_only, min_talk_s, outcome_kind,"
    " outcome_id, target_id, value_from, value, currency, enabled"
)


class ActionError(FieldError):
    """An action that cannot be stored as asked; ``field`` names the field at fault."""


@dataclass(frozen=True)
class ActionSpec:
    """What an action is, as people set it (see the module docstring)."""

    platform: str
    name: str
    qualified_only: bool = True
    first_time_only: bool = False
    min_talk_s: int = 0
    outcome_kind: str = ""
    outcome_id: int | None = None
    target_id: int | None = None
    value_from: str = "fixed"
    value: str = "0"
    currency: str = "JPY"
    enabled: bool = True


@dataclass(frozen=True)
class Action(ActionSpec):
    """A stored action of a site."""

    id: int = 0
    site_id: int = 0

    def as_json(self) -> dict[str, Any]:
        """The action as the API gives it."""
        return asdict(self)

    def rule_sql(self) -> tuple[str, dict[str, Any]]:
        """The conditions (on calls ``c``, outcomes ``o``) a call meets to count."""
        parts = ["c.site_id = :act_site"]
        params: dict[str, Any] = {"act_site": self.site_id}
        if self.qualified_only:
            parts.append("c.qualified = 1")
        if self.first_time_only:
            parts.append("c.first_time = 1")
        if self.min_talk_s:
            parts.append("c.talk_s >= :act_talk")
            params["act_talk"] = self.min_talk_s
        if self.outcome_id is not None:
            parts.append("c.outcome_id = :act_outcome")
            params["act_outcome"] = self.outcome_id
        elif self.outcome_kind:
            parts.append("o.kind = :act_kind")
            params["act_kind"] = self.outcome_kind
        if self.target_id is not None:
            # A call to a number of the target's pools, or forwarded to the target (one
            # number per visitor stands for every target of the site).
            parts.append(
                "(c.number_id IN (SELECT tn.id FROM tracking_numbers tn JOIN pools p"
                " ON p.id = tn.pool_id WHERE p.target_id = :act_target)"
                " OR c.forwarded_to = (SELECT number FROM targets WHERE id = :act_target))"
            )
            params["act_target"] = self.target_id
        return " AND ".join(parts), params


def check_action(spec: ActionSpec) -> ActionSpec:
    """The spec checked and normalised, or :class:`ActionError` saying which field is wrong.

    Names, values and currencies follow the site settings' checks
    (:func:`attribution.conversions.check_settings`): the name must match the platform's
    conversion action and fit its file's encoding.
    """
    allowed = [*conversions.FILE_PLATFORMS, *API_ONLY_PLATFORMS]
    if spec.platform not in allowed:
        raise ActionError("platform", f"platform must be one of {allowed}")
    # An API-only platform's names are UTF-8 like Google's file.
    rules = "google" if spec.platform in API_ONLY_PLATFORMS else spec.platform
    try:
        checked = conversions.check_settings(
            rules, conversions.ConversionSettings(spec.name, spec.value, spec.currency)
        )
    except ValueError as exc:
        field = str(exc).split(" ", 1)[0]
        raise ActionError("name" if field == "conversion_name" else field, str(exc)) from exc
    if spec.value_from not in VALUE_FROM:
        raise ActionError("value_from", f"value_from must be one of {list(VALUE_FROM)}")
    if spec.outcome_kind not in ("", *OUTCOME_KINDS):
        raise ActionError("outcome_kind", f"outcome_kind must be one of {list(OUTCOME_KINDS)}")
    if not 0 <= spec.min_talk_s <= MAX_TALK_S:
        raise ActionError("min_talk_s", f"min_talk_s must be 0 to {MAX_TALK_S}")
    return ActionSpec(
        spec.platform,
        checked.conversion_name,
        bool(spec.qualified_only),
        bool(spec.first_time_only),
        int(spec.min_talk_s),
        spec.outcome_kind,
        spec.outcome_id,
        spec.target_id,
        spec.value_from,
        checked.value,
        checked.currency,
        bool(spec.enabled),
    )


def _action(row: Any) -> Action:
    return from_row(Action, row)


async def _check_refs(tx: Tx, site_id: int, spec: ActionSpec) -> None:
    """The outcome and target named must be the site's advertiser's."""
    if spec.outcome_id is not None and not await tx.fetchval(
        "SELECT 1 FROM call_outcomes o JOIN sites s ON s.advertiser_id = o.advertiser_id"
        " WHERE o.id = :o AND s.id = :s",
        {"o": spec.outcome_id, "s": site_id},
    ):
        raise ActionError("outcome_id", f"no outcome {spec.outcome_id} of the site's advertiser")
    if spec.target_id is not None and not await tx.fetchval(
        "SELECT 1 FROM targets WHERE id = :t AND site_id = :s",
        {"t": spec.target_id, "s": site_id},
    ):
        raise ActionError("target_id", f"no target {spec.target_id} on this site")


async def save_action(
    db: Store, *, site_id: int, spec: ActionSpec, now_ms: int, action_id: int | None = None
) -> Action:
    """Create an action on the site (``action_id`` None) or replace one of its actions.

    Raises :class:`ActionError` for a bad spec or a name the site's platform already has,
    LookupError when ``action_id`` is not the site's.
    """
    spec = check_action(spec)
    values = {**asdict(spec), "site": site_id, "now": now_ms}
    values["qualified_only"] = int(spec.qualified_only)
    values["first_time_only"] = int(spec.first_time_only)
    values["enabled"] = int(spec.enabled)
    async with db.write() as tx:
        await _check_refs(tx, site_id, spec)
        clash = await tx.fetchval(
            "SELECT id FROM conversion_actions WHERE site_id = :site AND platform = :platform"
            " AND name = :name",
            values,
        )
        if clash is not None and clash != action_id:
            raise ActionError("name", f"the site has a {spec.platform} action named {spec.name!r}")
        if action_id is None:
            action_id = await tx.fetchval(
                "INSERT INTO conversion_actions (site_id, platform, name, qualified_only,"
                " first_time_only, min_talk_s, outcome_kind, outcome_id, target_id, value_from,"
                " value, currency, enabled, created_ms, updated_ms) VALUES (:site, :platform,"
                " :name, :qualified_only, :first_time_only, :min_talk_s, :outcome_kind,"
                " :outcome_id, :target_id, :value_from, :value, :currency, :enabled, :now, :now)"
                " RETURNING id",
                values,
            )
        else:
            changed = await tx.execute(
                "UPDATE conversion_actions SET platform = :platform, name = :name,"
                " qualified_only = :qualified_only, first_time_only = :first_time_only,"
                " min_talk_s = :min_talk_s, outcome_kind = :outcome_kind,"
                " outcome_id = :outcome_id, target_id = :target_id, value_from = :value_from,"
                " value = :value, currency = :currency, enabled = :enabled, updated_ms = :now"
                " WHERE id = :id AND site_id = :site",
                {**values, "id": action_id},
            )
            if not changed:
                raise LookupError(f"No conversion action {action_id}.")
        row = await tx.fetchone(
            f"SELECT {_COLUMNS} FROM conversion_actions WHERE id = :id", {"id": action_id}
        )
    assert row is not None
    return _action(row)


async def list_actions(db: Store, scope: Scope, *, site_id: int | None = None) -> list[Action]:
    """The actions of the sites in ``scope`` (and of ``site_id`` when given)."""
    where, params = scope.narrow(site_id=site_id).condition("s", site="id")
    rows = await db.fetchall(
        f"SELECT a.{_COLUMNS.replace(', ', ', a.')} FROM conversion_actions a"
        f" JOIN sites s ON s.id = a.site_id WHERE {where} ORDER BY a.site_id, a.platform, a.id",
        params,
    )
    return [_action(r) for r in rows]


async def get_action(db: Store | Tx, action_id: int, scope: Scope) -> Action | None:
    """The action if its site is in ``scope``."""
    where, params = scope.condition("s", site="id")
    row = await db.fetchone(
        f"SELECT a.{_COLUMNS.replace(', ', ', a.')} FROM conversion_actions a"
        f" JOIN sites s ON s.id = a.site_id WHERE a.id = :id AND {where}",
        {**params, "id": action_id},
    )
    return None if row is None else _action(row)


def call_value(action: Action, row: Any) -> str:
    """What the call is worth for the action: the fixed value, or the call's (or its
    outcome's) value in yen when it has one."""
    if action.value_from == "call" and row["value_yen"] is not None:
        return str(int(row["value_yen"]))
    if action.value_from == "outcome" and row["outcome_value"] is not None:
        return str(int(row["outcome_value"]))
    return action.value


def calls_sql(
    action: Action, fmt: platforms.ConversionFormat, *, display: bool = False
) -> tuple[str, dict[str, Any]]:
    """SELECT of the calls that count for the action now, with what a file row needs
    (narrow it with more ``AND`` conditions; ``ORDER BY`` is the caller's). ``display``:
    the calls whose click is a display ad's (Yahoo! JAPAN's ``YJAD.``) instead."""
    owner = platforms.get(action.platform)
    has_click, params = conversions._click_sql(owner, fmt, display=display)
    rule, rule_params = action.rule_sql()
    params.update(rule_params)
    sql = (
        "SELECT c.id, c.started_ms, c.touch_landing_url AS landing_url, c.match_method,"
        " c.match_confidence, c.value_yen, o.value_yen AS outcome_value, "
        + "".join(f"c.touch_{col} AS {col}, " for col in platforms.CLICK_ID_COLUMNS)
        + "c.caller, c.touch_ms FROM calls c LEFT JOIN call_outcomes o ON o.id = c.outcome_id"
        f" WHERE {rule} AND {has_click} AND {conversions._TOUCH_BEFORE_CALL}"
    )
    return sql, params


async def site_zone(db: Store | Tx, site_id: int) -> str:
    """The site's time zone (files of platforms without a zone of their own use it)."""
    zone = await db.fetchval("SELECT timezone FROM sites WHERE id = :s", {"s": site_id})
    return str(zone or conversions.YAHOO_ZONE)


async def finish_file(
    tx: Tx,
    action: Action,
    batch: str,
    rows: list[dict[str, Any]],
    filename: str,
    fmt: platforms.ConversionFormat,
    content: bytes,
    *,
    created_by: str,
    now_ms: int,
    record: bool = True,
    skipped: dict[str, int] | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> conversions.ConversionFile:
    """An action's file (new conversions or adjustments), kept as a batch of its site when
    ``record`` and it has rows."""
    batch_id = None
    if record and rows:
        batch_id = await batches.record_batch(
            tx,
            platform=action.platform,
            batch=batch,
            rows=[(r["call_id"], r["click"]) for r in rows],
            filename=filename,
            media_type=fmt.media_type,
            content=content,
            advertiser_id=await tx.fetchval(
                "SELECT advertiser_id FROM sites WHERE id = :s", {"s": action.site_id}
            ),
            site_id=action.site_id,
            start_ms=start_ms,
            end_ms=end_ms,
            created_by=created_by,
            now_ms=now_ms,
        )
    return conversions.ConversionFile(
        action.platform,
        batch,
        filename,
        fmt.media_type,
        content,
        len(rows),
        dict(sorted((skipped or {}).items())),
        batch_id,
    )


async def export_action(
    db: Store,
    action: Action,
    *,
    start_ms: int,
    end_ms: int,
    now_ms: int,
    destination: str = "file",
    record: bool = True,
    created_by: str = "",
    policy: UploadPolicy | None = None,
) -> conversions.ConversionFile:
    """The platform's upload file of the action's calls started in [start_ms, end_ms) that
    ``destination`` has not had yet.

    With ``record`` the calls written go into ``conversion_sent`` in the same unit of work
    (a second export is empty), and a file with rows is kept as a batch
    (:mod:`attribution.batches`: listed, downloaded again, voided). ``policy`` leaves out
    uncertain matches as for every upload (counted in ``skipped``, not recorded).
    """
    policy = policy or UploadPolicy()
    fmt = platforms.file_format(action.platform)
    zone, offset = conversions._zone_param(fmt.zone or await site_zone(db, action.site_id))
    owner = platforms.get(action.platform)
    batch = conversions.new_batch(now_ms)
    sql, params = calls_sql(action, fmt)
    sql += (
        " AND c.started_ms >= :start AND c.started_ms < :end AND NOT EXISTS (SELECT 1 FROM"
        " conversion_sent x WHERE x.action_id = :act AND x.destination = :dest"
        " AND x.call_id = c.id) ORDER BY c.started_ms, c.id"
    )
    params.update({"start": start_ms, "end": end_ms, "act": action.id, "dest": destination})
    rows: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    async with db.write() as tx:
        for row in await tx.fetchall(sql, params) if action.enabled else []:
            refused = policy.refusal(row["match_method"], row["match_confidence"])
            if refused is not None:
                skipped[refused] += 1
                continue
            click = conversions._click_id(owner, fmt, row)
            if click is None:
                continue
            out = {
                "call_id": int(row["id"]),
                "kind": click[0],
                "click": click[1],
                "name": action.name,
                "value": call_value(action, row),
                "currency": action.currency,
                "time": datetime.fromtimestamp(row["started_ms"] / 1000, zone),
                "started_ms": int(row["started_ms"]),
            }
            reason = conversions._unfit(fmt, out)
            if reason is not None:
                skipped[reason] += 1
                continue
            rows.append(out)
        content = conversions._render(fmt, rows, offset)
        filename = fmt.filename.format(platform=action.platform, batch=batch)
        if record and rows:
            await tx.executemany(
                "INSERT INTO conversion_sent (action_id, destination, call_id, click_id,"
                " conversion_ms, value, currency, batch, sent_ms) VALUES (:a, :d, :c, :k,"
                " :t, :v, :cur, :b, :now)",
                [
                    {
                        "a": action.id,
                        "d": destination,
                        "c": r["call_id"],
                        "k": r["click"],
                        "t": r["started_ms"],
                        "v": r["value"],
                        "cur": r["currency"],
                        "b": batch,
                        "now": now_ms,
                    }
                    for r in rows
                ],
            )
        return await finish_file(
            tx,
            action,
            batch,
            rows,
            filename,
            fmt,
            content,
            created_by=created_by,
            now_ms=now_ms,
            record=record,
            skipped=skipped,
            start_ms=start_ms,
            end_ms=end_ms,
        )
