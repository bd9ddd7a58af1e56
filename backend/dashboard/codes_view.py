"""Fixed codes (任意番号 for offline media) on the numbers page: given on a source number,
taken back. The same checks as the API and ``callpath numbers codes``
(:func:`attribution.codes.add_fixed`)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from attribution import codes
from backend.dashboard.logins import Viewer
from backend.dashboard.web import db_of, int_param, owned, page, path_id, redirect
from pool.store import Row, Store, now_ms


async def fixed_codes(db: Store, advertiser_id: int | None) -> list[dict[str, object]]:
    """Every fixed code the viewer may see (for the numbers page)."""
    return await codes.list_fixed(db, advertiser_id=advertiser_id)


def _field(form: dict[str, str], name: str, max_len: int) -> str:
    value = form.get(name, "").strip()
    if len(value) > max_len:
        raise HTTPException(422, f"{name} is longer than {max_len} characters.")
    return value


@page()
async def add_code(request: Request, viewer: Viewer) -> Response:
    """Give a code on a source number (POST from the numbers page)."""
    db = db_of(request)
    form = request.state.form
    number_id = int_param(form.get("number"), "number")
    if number_id is None:
        raise HTTPException(422, "Choose a number.")
    number: Row = await owned(db, viewer, "tracking_numbers", number_id)
    try:
        async with db.write() as tx:
            await codes.add_fixed(
                tx,
                number_id=int(number["id"]),
                code=_field(form, "code", 6),
                source_label=_field(form, "source_label", 100),
                campaign=_field(form, "campaign", 200),
                now_ms=now_ms(),
            )
    except codes.CodeError as exc:
        raise HTTPException(422, str(exc)) from exc
    return redirect("/dashboard/settings/numbers#fixed-codes")


@page()
async def delete_code(request: Request, viewer: Viewer) -> Response:
    """Take a code back (calls already made keep their source)."""
    db = db_of(request)
    code_id = path_id(request)
    number_id = await db.fetchval(
        "SELECT number_id FROM fixed_codes WHERE id = :id", {"id": code_id}
    )
    if number_id is None:
        raise HTTPException(404, "Not found.")
    await owned(db, viewer, "tracking_numbers", int(number_id))
    async with db.write() as tx:
        await codes.delete_fixed(tx, code_id=code_id)
    return redirect("/dashboard/settings/numbers#fixed-codes")
