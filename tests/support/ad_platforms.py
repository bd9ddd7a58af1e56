"""Stand-ins for the ad platforms' conversion APIs, served on a loopback port.

They play Google's and Meta's part the way their documentation describes it, and check
what callpath sends as those APIs would: Google's OAuth token endpoint (a refresh token
for an access token), the Google Ads API's ``customers/{id}:uploadClickConversions`` (the
headers it needs, each conversion's fields, ``partialFailure`` answered row by row), and
Meta's Conversions API ``{pixel}/events``. Every request is kept for the test to read.
"""

from __future__ import annotations

import contextlib
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

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/token", self.token, methods=["POST"]),
                Route("/{version}/customers/{rest}", self.google, methods=["POST"]),
                Route("/{version}/{pixel}/events", self.meta, methods=["POST"]),
            ]
        )

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
