"""Stand-ins for the ad platforms' conversion APIs, served on a loopback port.

They play Google's and Meta's part the way their documentation describes it, and check
what callpath sends as those APIs would: Google's OAuth token endpoint (a refresh token
for an access token), the Google Ads API's ``customers/{id}:uploadClickConversions`` (the
headers it needs, each conversion's fields, ``partialFailure`` answered row by row),
Meta's Conversions API ``{pixel}/events``, and Yahoo! JAPAN's token endpoint and the Search
Ads (``/search``) and Display Ads (``/display``) APIs' ``OfflineConversionService`` upload
and get, as Yahoo!'s OpenAPI specifications describe them (ads-search-api-documents
design/v20/Route.yaml, ads-display-api-documents design/v19/Route.yaml). Every request is
kept for the test to read.
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.server import serving_asgi

REFRESH_TOKEN = "refresh-token-ok"
ACCESS_TOKEN = "ya29.access-token"
DEVELOPER_TOKEN = "dev-token-1"
META_TOKEN = "meta-access-token"
YAHOO_REFRESH_TOKEN = "yahoo-refresh-ok"
YAHOO_ACCESS_TOKEN = "yahoo-access-token"
# The manual import templates' headers (search: ads-help.yahoo.co.jp article 50455).
YAHOO_SEARCH_HEADER = [
    "YCLID",
    "コンバージョン名",
    "コンバージョン発生日時",
    "1コンバージョンあたりの価値",
    "通貨コード",
]
YAHOO_DISPLAY_HEADER = YAHOO_SEARCH_HEADER[:4]
_YAHOO_VERSION = {"search": "v20", "display": "v19"}
_YAHOO_TIME = re.compile(r"\d{8} \d{6}")
# Google's conversionDateTime: "yyyy-mm-dd hh:mm:ss+|-hh:mm".
_GOOGLE_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d\d:\d\d")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass
class Platforms:
    """What the stand-ins were sent (JSON bodies, in order) and how they answer."""

    google_batches: list[dict[str, Any]] = field(default_factory=list)
    meta_batches: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    refuse_click_prefix: str = "bad-"  # Google refuses these gclids, row by row
    # Yahoo!: each upload as {network, query, headers, filename, rows}; the status the
    # get operation answers per upload id (DONE unless set); accounts whose uploads fail.
    yahoo_uploads: list[dict[str, Any]] = field(default_factory=list)
    yahoo_status: dict[int, str] = field(default_factory=dict)
    yahoo_gets: list[dict[str, Any]] = field(default_factory=list)
    yahoo_refuse_accounts: set[str] = field(default_factory=set)
    _upload_ids: Any = field(default_factory=lambda: itertools.count(5001))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/yahoo/token", self.yahoo_token, methods=["GET"]),
                Route(
                    "/{network}/api/{version}/OfflineConversionService/upload",
                    self.yahoo_upload,
                    methods=["POST"],
                ),
                Route(
                    "/{network}/api/{version}/OfflineConversionService/get",
                    self.yahoo_get,
                    methods=["POST"],
                ),
                Route("/{version}/customers/{rest}", self.google, methods=["POST"]),
                Route("/{version}/{pixel}/events", self.meta, methods=["POST"]),
            ]
        )

    async def yahoo_token(self, request: Request) -> Response:
        """biz-oauth's token endpoint: a refresh token for an access token, by GET with the
        parameters in the query (Yahoo! JAPAN Ads API startup guide, APIコールを実施する)."""
        q = request.query_params
        ok = (
            q.get("grant_type") == "refresh_token"
            and q.get("refresh_token") == YAHOO_REFRESH_TOKEN
            and q.get("client_id")
            and q.get("client_secret")
        )
        if not ok:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse(
            {"access_token": YAHOO_ACCESS_TOKEN, "expires_in": 3600, "token_type": "bearer"}
        )

    def _yahoo_call(self, request: Request) -> tuple[str, Response | None]:
        """The network of a Yahoo! API call, or the answer refusing it (401 without the
        bearer token, as Response401's 0110/0111)."""
        network = request.path_params["network"]
        assert network in _YAHOO_VERSION, network
        assert request.path_params["version"] == _YAHOO_VERSION[network]
        # x-z-base-account-id: required, an int64 account id.
        assert re.fullmatch(r"\d+", request.headers["x-z-base-account-id"])
        if request.headers.get("authorization") != f"Bearer {YAHOO_ACCESS_TOKEN}":
            error = {"code": "0111", "message": "Authentication failed.", "details": None}
            return network, JSONResponse({"errors": [error], "rid": "r", "rval": None}, 401)
        return network, None

    async def yahoo_upload(self, request: Request) -> Response:
        network, refused = self._yahoo_call(request)
        if refused is not None:
            return refused
        q = request.query_params
        assert re.fullmatch(r"\d+", q["accountId"]), q
        assert q["uploadFileName"]
        # uploadType (NEW | ADJUSTMENT) is the search API's; the display API has none.
        if network == "search":
            assert q["uploadType"] == "NEW", q
        else:
            assert "uploadType" not in q, q
        assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
        async with request.form() as form:
            assert set(form.keys()) == {"file"}, list(form.keys())
            upload = form["file"]
            assert not isinstance(upload, str)
            filename, content = upload.filename, await upload.read()
        assert 0 < len(content) <= 20_971_520
        rows = list(csv.reader(io.StringIO(content.decode("cp932"))))
        header = YAHOO_SEARCH_HEADER if network == "search" else YAHOO_DISPLAY_HEADER
        assert rows[0] == header, rows[0]
        for row in rows[1:]:
            assert len(row) == len(header), row
            # A YJAD. click is a display ad's: the display API's, never search's.
            assert row[0].upper().startswith("YJAD.") == (network == "display"), row
            assert _YAHOO_TIME.fullmatch(row[2]), row[2]
            assert re.fullmatch(r"\d+(\.\d+)?", row[3]), row[3]
            if network == "search":
                assert row[4] == "JPY", row
        self.yahoo_uploads.append(
            {
                "network": network,
                "query": dict(q),
                "base_account": request.headers["x-z-base-account-id"],
                "filename": filename,
                "rows": rows[1:],
            }
        )
        if q["accountId"] in self.yahoo_refuse_accounts:
            error = {
                "code": "I0001",
                "message": "Deactivated Id.",
                "details": [{"requestKey": "accountId", "requestValue": q["accountId"]}],
            }
            value = {"errors": [error], "operationSucceeded": False, "offlineConversion": None}
            return JSONResponse({"errors": None, "rid": "r", "rval": {"values": [value]}})
        upload_id = next(self._upload_ids)
        job = {
            "accountId": int(q["accountId"]),
            "uploadId": upload_id,
            "uploadFileName": q["uploadFileName"],
            "uploadedDate": "20261206120000",
            "uploadSourceType": "API",
            "processStatus": "PROCESSING",
        }
        if network == "search":
            job["uploadType"] = "NEW"
        value = {"errors": None, "operationSucceeded": True, "offlineConversion": job}
        return JSONResponse({"errors": None, "rid": "r", "rval": {"values": [value]}})

    async def yahoo_get(self, request: Request) -> Response:
        network, refused = self._yahoo_call(request)
        if refused is not None:
            return refused
        assert request.headers["content-type"] == "application/json"
        selector = orjson.loads(await request.body())
        assert isinstance(selector["accountId"], int)
        ids = selector["uploadIds"]
        assert all(isinstance(i, int) for i in ids)
        assert len(ids) <= (200 if network == "display" else 1000)
        self.yahoo_gets.append({"network": network, **selector})
        values = [
            {
                "errors": None,
                "operationSucceeded": True,
                "offlineConversion": {
                    "accountId": selector["accountId"],
                    "uploadId": i,
                    "processStatus": self.yahoo_status.get(i, "DONE"),
                },
            }
            for i in ids
        ]
        page = {"totalNumEntries": len(values), "values": values}
        return JSONResponse({"errors": None, "rid": "r", "rval": page})

    async def token(self, request: Request) -> Response:
        self.token_requests += 1
        form = parse_qs((await request.body()).decode())
        ok = (
            form.get("grant_type") == ["refresh_token"]
            and form.get("refresh_token") == [REFRESH_TOKEN]
            and form.get("client_id")
            and form.get("client_secret")
        )
        if not ok:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse({"access_token": ACCESS_TOKEN, "expires_in": 3599})

    async def google(self, request: Request) -> Response:
        customer, _, method = request.path_params["rest"].partition(":")
        assert method == "uploadClickConversions", method
        assert request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}"
        assert request.headers["developer-token"] == DEVELOPER_TOKEN
        body = orjson.loads(await request.body())
        assert body["partialFailure"] is True
        self.google_batches.append(body)
        errors = []
        for index, c in enumerate(body["conversions"]):
            clicks = [k for k in ("gclid", "gbraid", "wbraid") if k in c]
            assert len(clicks) == 1, c
            assert c["conversionAction"].startswith(f"customers/{customer}/conversionActions/")
            assert _GOOGLE_TIME.fullmatch(c["conversionDateTime"]), c["conversionDateTime"]
            assert isinstance(c["conversionValue"], int | float)
            assert re.fullmatch(r"[A-Z]{3}", c["currencyCode"])
            assert c["consent"]["adUserData"] in ("GRANTED", "DENIED")
            for ident in c.get("userIdentifiers", []):
                assert _SHA256.fullmatch(ident["hashedPhoneNumber"])
            if c[clicks[0]].startswith(self.refuse_click_prefix):
                errors.append(
                    {
                        "errorCode": {"conversionUploadError": "UNPARSEABLE_GCLID"},
                        "message": "The click id could not be decoded.",
                        "location": {
                            "fieldPathElements": [
                                {"fieldName": "conversions", "index": index},
                                {"fieldName": "gclid"},
                            ]
                        },
                    }
                )
        answer: dict[str, Any] = {"results": [{} for _ in body["conversions"]]}
        if errors:
            answer["partialFailureError"] = {
                "code": 3,
                "message": "partial failure",
                "details": [{"@type": "type.googleapis.com/GoogleAdsFailure", "errors": errors}],
            }
        return JSONResponse(answer)

    async def meta(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        if body.get("access_token") != META_TOKEN:
            return JSONResponse({"error": {"message": "Invalid OAuth access token"}}, 400)
        for event in body["data"]:
            assert event["action_source"] == "phone_call"
            assert isinstance(event["event_time"], int)
            assert re.fullmatch(r"fb\.1\.\d+\..+", event["user_data"]["fbc"])
            for ph in event["user_data"].get("ph", []):
                assert _SHA256.fullmatch(ph)
        self.meta_batches.append(body)
        return JSONResponse({"events_received": len(body["data"]), "fbtrace_id": "trace"})


@contextlib.asynccontextmanager
async def serving(platforms: Platforms, port: int | None = None) -> AsyncIterator[str]:
    """The stand-ins on a loopback port (a free one by default); yields their base URL."""
    async with serving_asgi(platforms.app(), port) as bound:
        yield f"http://127.0.0.1:{bound}"
