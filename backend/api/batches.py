"""Recorded conversion batches: list, rows, the file again, void (``attribution.batches``)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from attribution import batches as bt
from attribution import conversions as conv
from backend.api import openapi as oa
from backend.api.endpoints import Endpoints
from backend.api.params import (
    P_ADVERTISER,
    P_CURSOR,
    P_LIMIT,
    db_of,
    id_page,
    path_id,
    request_scope,
)
from backend.auth import ApiPrincipal
from backend.downloads import file_download
from backend.errors import ApiError
from pool.store import now_ms

api = Endpoints(
    tags=["exports"],
    path_params=[oa.path_param("batch_id", oa.ID, "The batch's id (``id`` in the list).")],
)

log = logging.getLogger("callpath.exports")

_BATCH_FIELDS: dict[str, Any] = {
    "id": oa.ID,
    "platform": {"type": "string", "enum": list(conv.FILE_PLATFORMS)},
    "batch": {"type": "string"},
    "advertiser_id": oa.NULLABLE_ID,
    "site_id": oa.NULLABLE_ID,
    "start_ms": {"type": ["integer", "null"]},
    "end_ms": {"type": ["integer", "null"]},
    "rows": {"type": "integer", "minimum": 0},
    "created_ms": {"type": "integer"},
    "created_by": {"type": "string"},
    "voided": {"type": "boolean"},
    "voided_ms": {"type": ["integer", "null"]},
    "voided_by": {"type": ["string", "null"]},
    "has_file": {"type": "boolean"},
}
BATCH = oa.component(
    "ConversionBatch",
    oa.record(_BATCH_FIELDS),
)
_ROW = {
    "type": "object",
    "required": ["call_id", "click_id", "started_ms", "site_id"],
    "properties": {
        "call_id": oa.ID,
        "click_id": {"type": "string"},
        "started_ms": {"type": ["integer", "null"]},
        "site_id": oa.NULLABLE_ID,
    },
}
BATCH_ROWS = oa.component(
    "ConversionBatchRows",
    {
        "type": "object",
        "required": ["batch", "rows"],
        "properties": {"batch": BATCH, "rows": oa.array(_ROW)},
    },
)
_PAGE = {
    "type": "object",
    "required": ["data", "next_cursor"],
    "properties": {
        "data": oa.array(BATCH),
        "next_cursor": {"type": ["string", "null"]},
    },
}
_ERR = {"$ref": "#/components/responses/Error"}
P_FILE_PLATFORM = oa.query_param(
    "platform", {"type": "string", "enum": list(conv.FILE_PLATFORMS)}, "Only this platform."
)


def actor(principal: ApiPrincipal) -> str:
    """Who did it, as batches record it."""
    return f"user {principal.user_id} (token {principal.token_id})"


def _missing(batch_id: int) -> ApiError:
    # The same answer for a batch of another advertiser: ids of others do not leak.
    return ApiError(404, "not_found", f"No conversion batch {batch_id}.")


async def _visible_batch(
    request: Request, principal: ApiPrincipal
) -> tuple[int, int | None, bt.Batch]:
    """The path's batch id, the reader's advertiser scope and the batch; 404 if not visible."""
    batch_id = path_id(request, "batch_id")
    scope = principal.scope.advertiser_id
    batch = await bt.get_batch(db_of(request), batch_id, scope=scope)
    if batch is None:
        raise _missing(batch_id)
    return batch_id, scope, batch


@api.get(
    "/api/conversions/batches",
    "Recorded conversion files (batches), newest first",
    params=[P_FILE_PLATFORM, P_ADVERTISER, P_LIMIT, P_CURSOR],
    ok="A page of batches",
    returns=_PAGE,
)
async def list_batches(request: Request, principal: ApiPrincipal) -> Response:
    """Batches in the token's scope with their row count, platform, time and author."""
    platform = request.query_params.get("platform")
    if platform is not None and platform not in conv.FILE_PLATFORMS:
        raise ApiError(422, "invalid", f"platform must be one of {conv.FILE_PLATFORMS}.")
    paging = id_page(request, "batches")
    found = await bt.list_batches(
        db_of(request),
        scope=request_scope(request, principal, site_param=None).advertiser_id,
        platform=platform,
        limit=paging.limit + 1,
        before_id=paging.before_id,
    )
    page, cursor = paging.cut(request, found, lambda b: b.id)
    return JSONResponse({"data": [b.as_json() for b in page], "next_cursor": cursor})


@api.get(
    "/api/conversions/batches/{batch_id:int}",
    "One conversion batch with the calls it holds",
    ok="The batch and its rows",
    returns=BATCH_ROWS,
)
async def show_batch(request: Request, principal: ApiPrincipal) -> Response:
    """The batch and its rows (call id, click id, call start, site)."""
    batch_id, scope, batch = await _visible_batch(request, principal)
    rows = await bt.batch_rows(db_of(request), batch_id, scope=scope)
    return JSONResponse({"batch": batch.as_json(), "rows": rows})


@api.get(
    "/api/conversions/batches/{batch_id:int}/file",
    "Download a recorded conversion file again, byte for byte",
    responses={200: oa.file_response("The file as first given out", ["text/csv"]), 410: _ERR},
)
async def batch_file(request: Request, principal: ApiPrincipal) -> Response:
    """The recorded file's exact bytes (410 for a batch recorded before files were kept)."""
    batch_id, scope, batch = await _visible_batch(request, principal)
    file = await bt.batch_file(db_of(request), batch_id, scope=scope)
    if file is None:
        raise ApiError(
            410,
            "file_not_kept",
            "This batch was recorded before callpath kept files; void it to export its calls"
            " again.",
        )
    return file_download(
        file, {"X-Callpath-Conversions": str(batch.rows), "X-Callpath-Batch": batch.batch}
    )


@api.post(
    "/api/conversions/batches/{batch_id:int}/void",
    "Void a batch: its calls are exported again by the next export",
    ok="The voided batch",
    returns=BATCH,
    responses={409: _ERR},
)
async def void_batch(request: Request, principal: ApiPrincipal) -> Response:
    """Take the batch's calls out of the ledger; the batch stays listed as voided."""
    batch_id = path_id(request, "batch_id")
    try:
        batch = await bt.void_batch(
            db_of(request),
            batch_id,
            scope=principal.scope.advertiser_id,
            by=actor(principal),
            now_ms=now_ms(),
        )
    except bt.AlreadyVoided as exc:
        raise ApiError(409, "already_voided", f"Batch {batch_id} was voided before.") from exc
    if batch is None:
        raise _missing(batch_id)
    log.info(
        "conversion batch voided",
        extra={"batch": batch.batch, "platform": batch.platform, "by": batch.voided_by},
    )
    return JSONResponse(batch.as_json())


routes = api.routes
