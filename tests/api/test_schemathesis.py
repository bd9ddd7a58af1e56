"""Property-based run of schemathesis over ``/api/openapi.json``, in-process over ASGI.

Every documented operation is called with generated input and a valid bearer token; each
response must not be a 5xx and must conform to the document (status, content type, body).
Bounded to a few examples per operation so it stays well under a minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks
from schemathesis.python import asgi as st_asgi

from backend import accounts, create_app
from backend.auth import token_digest
from backend.demo import seed_demo
from backend.settings import Settings
from backend.storage import open_database
from pool.store import now_ms
from tests.api.conftest import build_world

TOKEN = "cp_schemathesis-token-0123456789abcdef"
# An id generated input is unlikely to hit, so DELETE /api/tokens/{id} cannot revoke it.
TOKEN_ID = 987_654_321_012


async def _seed(url: str, config: Settings) -> None:
    db = await open_database(url)
    try:
        demo = await seed_demo(db, config)
        await build_world(db, demo)  # type: ignore[arg-type]
        async with db.write() as tx:
            user = await accounts.create_user(
                tx, email="fuzz@example.com", password="fuzz-pass-1", role="admin", now_ms=now_ms()
            )
            await tx.execute(
                "INSERT INTO api_tokens (id, user_id, advertiser_id, name, token_hash,"
                " can_see_callers, created_ms) VALUES (:id, :u, NULL, 'fuzz', :h, 1, :t)",
                {"id": TOKEN_ID, "u": user, "h": token_digest(TOKEN), "t": now_ms()},
            )
    finally:
        await db.close()


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'callpath.db'}"
    config = Settings(database_url=url, secret_key="fuzz-secret", log_level="warning")
    asyncio.run(_seed(url, config))
    app = create_app(config)
    # schemathesis runs the app's lifespan (opening storage) on its own event loop thread.
    loaded = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    # Sending events to GA4 is tested against a local receiver, never with generated URLs.
    yield loaded.exclude(path_regex=r"/ga4/push$")
    st_asgi.shutdown_lifespans()


CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@pytest.mark.slow
def test_api_conforms_to_its_openapi_document(api_schema: Any) -> None:
    # Driven by hand rather than schemathesis' pytest plugin, which does not load under
    # the pytest this project uses.
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then fail once
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
