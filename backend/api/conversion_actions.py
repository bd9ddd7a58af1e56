"""Conversion actions, their files, adjustments and feed URLs.

The domain is :mod:`attribution.conversion_actions` (and its adjustments and feeds).

Actions belong to a site: a token reads and changes those of the sites in its scope (a
read-only token only reads). The feed URL itself (``/feeds/conversions/<token>.csv``) is in
:mod:`backend.routes.feeds`: it needs no API token, its own token is the secret.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution import conversion_actions as ca
from attribution import conversion_adjustments as adj
from attribution import conversion_feeds as feeds
from attribution import conversion_uploads as up
from attribution import conversions as conv
from attribution import platforms as reg
from attribution.call_work import OUTCOME_KINDS
from backend.api import openapi as oa
from backend.api.batches import actor
from backend.api.endpoints import Endpoints
from backend.api.exports import UPLOAD_PARAMS, conversion_file_response, upload_policy
from backend.api.params import (
    P_END,
    P_START,
    P_TZ,
    db_of,
    path_id,
    path_site_id,
    time_range,
)
from backend.auth import ApiPrincipal
from backend.errors import ApiError
from backend.http import read_json_object
from pool.store import now_ms

api = Endpoints(
    tags=["exports"],
    path_params=[oa.path_param("action_id", oa.ID, "The conversion action's id.")],
)

_FIELDS: dict[str, Any] = {
    "platform": {"type": "string", "enum": list(conv.FILE_PLATFORMS)},
    "name": {
        "type": "string",
        "minLength": 1,
        "maxLength": 100,
        "description": "The platform's conversion action name, exactly.",
    },
    "qualified_only": {"type": "boolean", "default": True},
    "first_time_only": {"type": "boolean", "default": False},
    "min_talk_s": {"type": "integer", "minimum": 0, "maximum": ca.MAX_TALK_S, "default": 0},
    "outcome_kind": {"type": "string", "enum": ["", *OUTCOME_KINDS], "default": ""},
    "outcome_id": {"type": ["integer", "null"], "description": "Only calls with this outcome."},
    "target_id": {"type": ["integer", "null"], "description": "Only calls to this target."},
    "value_from": {"type": "string", "enum": list(ca.VALUE_FROM), "default": "fixed"},
    "value": {"type": "string", "pattern": f"^{conv.VALUE_PATTERN}$", "default": "0"},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "default": "JPY"},
    "enabled": {"type": "boolean", "default": True},
}
_OUT_FIELDS = {**_FIELDS, "id": oa.ID, "site_id": oa.ID}
ACTION = oa.component(
    "ConversionAction",
    oa.record(_OUT_FIELDS),
)
ACTION_IN = {
    "type": "object",
    "required": ["platform", "name"],
    "additionalProperties": False,
    "properties": _FIELDS,
}
_FEED_FIELDS: dict[str, Any] = {
    "id": oa.ID,
    "action_id": oa.ID,
    "label": {"type": "string"},
    "created_ms": {"type": "integer"},
    "created_by": {"type": "string"},
    "revoked": {"type": "boolean"},
    "revoked_ms": {"type": ["integer", "null"]},
    "last_fetch_ms": {"type": ["integer", "null"]},
}
FEED = oa.component("ConversionFeed", oa.record(_FEED_FIELDS))
_ERR = {"$ref": "#/components/responses/Error"}


def _spec(data: dict[str, Any]) -> ca.ActionSpec:
    """An action spec from a JSON body (422 naming the field for a wrong type)."""
    for key, value in data.items():
        schema = _FIELDS.get(key)
        if schema is None:
            raise ApiError(422, "invalid", f"Unknown field {key!r}.", field=key)
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(
            (k == "string" and isinstance(value, str))
            or (k == "boolean" and isinstance(value, bool))
            or (k == "integer" and isinstance(value, int) and not isinstance(value, bool))
            or (k == "null" and value is None)
            for k in kinds
        )
        if not ok:
            raise ApiError(422, "invalid", f"Field {key!r} has the wrong type.", field=key)
    for key in ("platform", "name"):
        if key not in data:
            raise ApiError(422, "invalid", f"Field {key!r} is required.", field=key)
    return ca.ActionSpec(**data)


async def _save(request: Request, site_id: int, action_id: int | None) -> ca.Action:
    data = await read_json_object(request, 4096)
    return await ca.save_action(
        db_of(request),
        site_id=site_id,
        spec=_spec(data),
        now_ms=now_ms(),
        action_id=action_id,
    )


async def _visible(request: Request, principal: ApiPrincipal) -> ca.Action:
    action_id = path_id(request, "action_id")
    action = await ca.get_action(db_of(request), action_id, principal.scope)
    if action is None:
        raise ApiError(404, "not_found", f"No conversion action {action_id}.")
    return action


async def _with_file(request: Request, principal: ApiPrincipal) -> ca.Action:
    """A visible action whose platform has an upload file (422 for an API-only one)."""
    action = await _visible(request, principal)
    try:
        reg.file_format(action.platform)
    except reg.UnknownPlatform as exc:
        raise ApiError(
            422, "no_file", f"{action.platform} takes no file: use the action's direct upload."
        ) from exc
    return action


@api.get(
    "/api/sites/{site_id:int}/conversion-actions",
    "The site's conversion actions",
    ok="The actions",
    returns=oa.data_list(ACTION),
)
async def list_actions(request: Request, principal: ApiPrincipal) -> Response:
    """Every action of the site, by platform."""
    site_id = await path_site_id(request, principal)
    found = await ca.list_actions(db_of(request), principal.scope, site_id=site_id)
    return JSONResponse({"data": [a.as_json() for a in found]})


@api.post(
    "/api/sites/{site_id:int}/conversion-actions",
    "Add a conversion action to a site (電話, 有効電話, 新規電話, per branch...)",
    body=ACTION_IN,
    created="The action",
    returns=ACTION,
)
async def create_action(request: Request, principal: ApiPrincipal) -> Response:
    """Store a new action (422 naming the field for a bad one or a name the site has)."""
    site_id = await path_site_id(request, principal)
    action = await _save(request, site_id, None)
    return JSONResponse(action.as_json(), status_code=201)


@api.get(
    "/api/conversion-actions/{action_id:int}",
    "One conversion action",
    ok="The action",
    returns=ACTION,
)
async def show_action(request: Request, principal: ApiPrincipal) -> Response:
    """The action, if its site is the token's to see."""
    return JSONResponse((await _visible(request, principal)).as_json())


@api.put(
    "/api/conversion-actions/{action_id:int}",
    "Replace a conversion action's rule and value (calls sent stay sent: adjust them)",
    body=ACTION_IN,
    ok="The action",
    returns=ACTION,
)
async def replace_action(request: Request, principal: ApiPrincipal) -> Response:
    """Replace every field (those left out take their defaults)."""
    action = await _visible(request, principal)
    stored = await _save(request, action.site_id, action.id)
    return JSONResponse(stored.as_json())


@api.post(
    "/api/conversion-actions/{action_id:int}/export",
    "The action's upload file: its calls not sent before, recorded so none repeats",
    params=[P_START, P_END, P_TZ, *UPLOAD_PARAMS],
    responses={200: oa.file_response("The upload file", ["text/csv"])},
)
async def export_action(request: Request, principal: ApiPrincipal) -> Response:
    """Calls of the range that count for the action and were not in its files before."""
    action = await _with_file(request, principal)
    start, end = time_range(request)
    file = await ca.export_action(
        db_of(request),
        action,
        start_ms=start,
        end_ms=end,
        now_ms=now_ms(),
        created_by=actor(principal),
        policy=upload_policy(request),
    )
    return conversion_file_response(file)


@api.post(
    "/api/conversion-actions/{action_id:int}/adjustments",
    "Retract or restate the action's conversions whose calls changed since sent",
    responses={200: oa.file_response("The adjustment file", ["text/csv"]), 404: _ERR},
)
async def adjust_action(request: Request, principal: ApiPrincipal) -> Response:
    """The platform's adjustment file; each change is written once."""
    action = await _with_file(request, principal)
    file = await adj.adjust_action(
        db_of(request), action, now_ms=now_ms(), created_by=actor(principal)
    )
    return conversion_file_response(file)


_UPLOAD_FIELDS: dict[str, Any] = {
    "kind": {"type": "string", "enum": list(up.KINDS)},
    "config": {
        "type": "object",
        "description": "google_ads: customer_id, conversion_action_id, login_customer_id,"
        " developer_token, client_id, client_secret, api_version; meta: pixel_id, event_name,"
        " api_version; yahoo_ads: search_account_id and/or display_account_id,"
        " base_account_id, client_id, client_secret, display_conversion_name, api_version,"
        " display_api_version.",
        "additionalProperties": {"type": "string", "maxLength": 200},
    },
    "secret": {
        "type": "string",
        "maxLength": 2000,
        "description": "Google, Yahoo!: the OAuth refresh token; Meta: the access token."
        " Never shown again; left out, the stored one is kept.",
    },
    "consent_user_data": {"type": "string", "enum": list(up.CONSENT)},
    "enabled": {"type": "boolean"},
}
UPLOAD = oa.component(
    "ConversionUpload",
    {
        "type": "object",
        "required": ["kind", "config", "has_secret", "consent_user_data", "enabled"],
        "properties": {
            "kind": _UPLOAD_FIELDS["kind"],
            "config": {"type": "object"},
            "has_secret": {"type": "boolean"},
            "consent_user_data": _UPLOAD_FIELDS["consent_user_data"],
            "enabled": {"type": "boolean"},
        },
    },
)


@api.get(
    "/api/conversion-actions/{action_id:int}/upload",
    "The action's direct upload to the platform's API (without its secret)",
    ok="The upload",
    returns=UPLOAD,
)
async def get_upload(request: Request, principal: ApiPrincipal) -> Response:
    """The configuration, or 404 when the action has none."""
    action = await _visible(request, principal)
    upload = await up.get_config(db_of(request), action.id)
    if upload is None:
        raise ApiError(404, "not_found", f"Action {action.id} has no direct upload.")
    return JSONResponse(upload.public())


@api.put(
    "/api/conversion-actions/{action_id:int}/upload",
    "Send the action's calls straight to Google Ads', Meta's or Yahoo!'s API",
    body={
        "type": "object",
        "required": ["kind", "config"],
        "additionalProperties": False,
        "properties": _UPLOAD_FIELDS,
    },
    ok="The upload",
    returns=UPLOAD,
)
async def put_upload(request: Request, principal: ApiPrincipal) -> Response:
    """Store the configuration (422 naming the field for a bad one)."""
    action = await _visible(request, principal)
    data = await read_json_object(request, 8192)
    unknown = set(data) - set(_UPLOAD_FIELDS)
    if unknown:
        raise ApiError(422, "invalid", f"Unknown field {sorted(unknown)[0]!r}.")
    config = data.get("config", {})
    if not isinstance(config, dict):
        raise ApiError(422, "invalid", "config must be an object.", field="config")
    flags = {k: data.get(k, d) for k, d in (("consent_user_data", ""), ("enabled", True))}
    if not isinstance(flags["enabled"], bool) or not isinstance(data.get("secret", ""), str):
        raise ApiError(422, "invalid", "enabled is a boolean, secret a string.")
    db = db_of(request)
    await up.save_config(
        db,
        action,
        up.UploadConfig(
            str(data.get("kind", "")),
            config,
            data.get("secret", ""),
            str(flags["consent_user_data"]),
            flags["enabled"],
        ),
        now_ms=now_ms(),
    )
    stored = await up.get_config(db, action.id)
    assert stored is not None
    return JSONResponse(stored.public())


def endpoints_of(request: Request) -> up.Endpoints:
    """The platforms' base URLs from the settings."""
    return up.Endpoints.from_settings(request.app.state.settings)


@api.post(
    "/api/conversion-actions/{action_id:int}/upload/run",
    "Send the action's calls not sent yet to the platform's API now",
    params=UPLOAD_PARAMS,
    ok="What was sent, refused (with the platform's reason) and left out",
    returns={
        "type": "object",
        "required": ["sent", "failed", "skipped"],
        "properties": {
            "sent": {"type": "integer"},
            "failed": oa.array({"type": "object"}),
            "skipped": {"type": "object"},
            "jobs": oa.array({"type": "object"}),
        },
    },
)
async def run_upload(request: Request, principal: ApiPrincipal) -> Response:
    """One run: the calls of the platform's window not sent yet; refusals are tried again
    by the next run."""
    action = await _visible(request, principal)
    result = await up.upload_action(
        db_of(request),
        action,
        now_ms=now_ms(),
        endpoints=endpoints_of(request),
        policy=request.app.state.outbound,
        uploads=upload_policy(request),
    )
    return JSONResponse(result.as_json())


@api.get(
    "/api/conversion-actions/{action_id:int}/feeds",
    "The action's feed URLs (never their tokens)",
    ok="The feeds",
    returns=oa.data_list(FEED),
)
async def list_feeds(request: Request, principal: ApiPrincipal) -> Response:
    """Every feed of the action, revoked ones included."""
    action = await _visible(request, principal)
    found = await feeds.list_feeds(db_of(request), action.id)
    return JSONResponse({"data": [f.as_json() for f in found]})


@api.post(
    "/api/conversion-actions/{action_id:int}/feeds",
    "A new secret feed URL of the action, for a scheduler to fetch (shown once)",
    body={
        "type": "object",
        "additionalProperties": False,
        "properties": {"label": {"type": "string", "maxLength": 100}},
    },
    created="The feed and its URL",
    returns={
        "type": "object",
        "required": ["feed", "url"],
        "properties": {"feed": FEED, "url": {"type": "string"}},
    },
)
async def create_feed(request: Request, principal: ApiPrincipal) -> Response:
    """A feed URL: give it to Google Ads' scheduled import (or another scheduler)."""
    action = await _with_file(request, principal)
    data = await read_json_object(request, 1024) if await _has_body(request) else {}
    label = data.get("label", "")
    if set(data) - {"label"} or not isinstance(label, str) or len(label) > 100:
        raise ApiError(422, "invalid", "The body takes only a 'label' of ≤ 100 characters.")
    feed, token = await feeds.create_feed(
        db_of(request), action, label=label, by=actor(principal), now_ms=now_ms()
    )
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {"feed": feed.as_json(), "url": f"{base}/feeds/conversions/{token}.csv"}, status_code=201
    )


async def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length", "")
    return bool(length and length != "0") or "transfer-encoding" in request.headers


@api.post(
    "/api/conversion-feeds/{feed_id:int}/revoke",
    "Revoke a feed URL: it answers 404 from now on",
    params=[oa.path_param("feed_id", oa.ID, "The feed's id.")],
    ok="The revoked feed",
    returns=FEED,
)
async def revoke_feed(request: Request, principal: ApiPrincipal) -> Response:
    """Revoke the feed (its action's site must be the token's to see)."""
    feed_id = path_id(request, "feed_id")
    feed = await feeds.revoke_feed(db_of(request), feed_id, principal.scope, now_ms=now_ms())
    if feed is None:
        raise ApiError(404, "not_found", f"No feed {feed_id}.")
    return JSONResponse(feed.as_json())


routes = api.routes
