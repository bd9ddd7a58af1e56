"""Request ids and structured logs: one JSON line per event, and one id that follows a
call from its webhook to the recorder's write."""

from __future__ import annotations

import io
import json
import logging
import re
import signal
from typing import Any

import httpx
import pytest

from backend.observability.context import REQUEST_ID
from backend.observability.logs import ContextFilter, JsonFormatter, logging_config
from backend.settings import Settings
from tests.support.server import Server, run_cli
from tests.telephony.conftest import AUTH_TOKEN, call_params, post_twilio, sign

GENERATED = re.compile(r"[0-9a-f]{16}")


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient) -> None:
    ids = set()
    for _ in range(3):
        r = await client.get("/healthz")
        assert GENERATED.fullmatch(r.headers["x-request-id"])
        ids.add(r.headers["x-request-id"])
    assert len(ids) == 3
    # Refusals too, made before any route runs (the body limit) or by one (unknown site).
    r = await client.post("/v1/session", content=b"x" * 20000)
    assert r.status_code == 413 and GENERATED.fullmatch(r.headers["x-request-id"])
    r = await client.post("/v1/session", json={"site": "nope", "url": "http://x/"})
    assert r.status_code == 404 and GENERATED.fullmatch(r.headers["x-request-id"])
    # Nothing of the request's context is left behind in the caller's.
    assert REQUEST_ID.get() == ""


async def test_a_well_formed_incoming_id_is_kept_and_others_are_replaced(
    client: httpx.AsyncClient,
) -> None:
    for kept in ("0123456789abcdef0123456789abcdef", "req-1.2:3", "Root=1-5759e988/x+y"):
        r = await client.get("/healthz", headers={"X-Request-Id": kept})
        assert r.headers["x-request-id"] == kept
    # Spaces, quotes, braces and overlong ids could break or forge a log line.
    for bad in ('a" "level":"error', "two words", "{}", "x" * 129, "é"):
        r = await client.get("/healthz", headers={"X-Request-Id": bad.encode("utf-8")})
        assert GENERATED.fullmatch(r.headers["x-request-id"]), bad


@pytest.fixture
def json_log(restore_logger: None) -> io.StringIO:
    """Everything the ``callpath`` loggers write from now on, as JSON lines."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("callpath")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return out


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def test_json_lines_follow_a_call_from_its_webhook_to_storage(
    client: httpx.AsyncClient, telephony: Any, json_log: io.StringIO
) -> None:
    r = await post_twilio(client, "/twilio/voice", call_params(sid="CA777"))
    assert r.status_code == 200
    voice_id = r.headers["x-request-id"]
    client.headers["X-Request-Id"] = "nginx-0123456789abcdef"
    r = await post_twilio(
        client, "/twilio/status", call_params(sid="CA777", CallStatus="completed")
    )
    assert r.headers["x-request-id"] == "nginx-0123456789abcdef"
    assert await telephony.recorder.drain(10)

    lines = _lines(json_log.getvalue())
    for line in lines:
        assert {"ts", "level", "logger", "message"} <= set(line)
    for request_id, kind in ((voice_id, "voice"), ("nginx-0123456789abcdef", "status")):
        mine = [line for line in lines if line.get("request_id") == request_id]
        webhook = [line for line in mine if "twilio webhook" in line["message"]]
        written = [line for line in mine if f"{kind} event written" in line["message"]]
        assert len(webhook) == 1 and len(written) == 1, (request_id, lines)
        assert webhook[0]["call_sid"] == written[0]["call_sid"] == "CA777"
        assert written[0]["logger"] == "callpath.telephony"
    # The recorder's worker goes back to no request between events.
    assert all(line.get("request_id") in (voice_id, "nginx-0123456789abcdef") for line in lines), (
        lines
    )


def test_json_formatter_keeps_one_line_with_extras_and_tracebacks() -> None:
    formatter = JsonFormatter()
    try:
        raise RuntimeError("line one\nline two")
    except RuntimeError:
        record = logging.LogRecord("callpath.x", logging.ERROR, "f.py", 1, "bad %s", ("x",), None)
        import sys

        record.exc_info = sys.exc_info()
    record.site = "demo"  # what `extra={"site": ...}` sets
    token = REQUEST_ID.set("rid-1")
    try:
        ContextFilter().filter(record)
    finally:
        REQUEST_ID.reset(token)
    text = formatter.format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert line["message"] == "bad x" and line["level"] == "error"
    assert line["request_id"] == "rid-1" and line["site"] == "demo"
    assert "RuntimeError: line one\nline two" in line["exc"]
    assert line["ts"].endswith("Z")


def test_an_unknown_log_format_is_refused(settings: Settings) -> None:
    from backend import create_app

    with pytest.raises(ValueError, match="CALLPATH_LOG_FORMAT"):
        logging_config("xml", "info")
    with pytest.raises(ValueError, match="CALLPATH_LOG_LEVEL"):
        logging_config("json", "loud")
    with pytest.raises(ValueError, match="log_format"):
        create_app(settings.replace(log_format="xml"))


@pytest.mark.stores("sqlite")
def test_serve_writes_json_lines_with_one_id_from_webhook_to_storage(database_url: str) -> None:
    """A real ``callpath serve`` with ``CALLPATH_LOG_FORMAT=json``: every line it writes is
    JSON, and the webhook's line and the recorder's write share the answer's request id."""
    seeded = run_cli("demo", "--json", database_url=database_url)
    assert seeded.returncode == 0, seeded.stderr
    server = Server(
        database_url,
        env_extra={
            "CALLPATH_LOG_FORMAT": "json",
            "CALLPATH_LOG_LEVEL": "info",
            "CALLPATH_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        },
    ).start()
    try:
        url = server.url + "/twilio/voice"
        params = call_params(sid="CA4242")
        r = httpx.post(url, data=params, headers={"X-Twilio-Signature": sign(url, params)})
        assert r.status_code == 200 and b"<Dial" in r.content
        request_id = r.headers["x-request-id"]
        metrics = httpx.get(server.url + "/metrics")
        assert metrics.status_code == 200
        assert server.proc is not None and server.proc.stderr is not None
        server.proc.send_signal(signal.SIGINT)  # the recorder writes what it holds first
        server.proc.wait(20)
        out = server.proc.stderr.read().decode()
    finally:
        server.stop()
    lines = _lines(out)  # every line is JSON, uvicorn's start-up and shutdown included
    assert any(line["logger"].startswith("uvicorn") for line in lines), out
    mine = [line for line in lines if line.get("request_id") == request_id]
    assert any("twilio webhook" in line["message"] for line in mine), out
    assert any("voice event written" in line["message"] for line in mine), out
    assert all(line.get("call_sid") == "CA4242" for line in mine), mine


def test_a_spooled_event_keeps_its_request_id() -> None:
    """The spool (call events waiting while storage is down) carries the id through a
    restart; a field a later version added does not make a spooled call unreadable."""
    import orjson

    from backend.telephony.calls import CallEvent

    event = CallEvent("twilio", "CA1", "voice", 1, request_id="rid-7", payload={"a": "b"})
    assert CallEvent.from_json(event.to_json()) == event
    later = orjson.dumps({**orjson.loads(event.to_json()), "added_later": 1})
    assert CallEvent.from_json(later) == event
    with pytest.raises(ValueError):
        CallEvent.from_json(b"[1, 2]")


def test_text_lines_name_the_request_and_the_call() -> None:
    from backend.observability.context import CALL_SID
    from backend.observability.logs import TextFormatter

    record = logging.LogRecord("callpath.telephony", logging.INFO, "f.py", 1, "hi %d", (1,), None)
    tokens = (REQUEST_ID.set("rid-9"), CALL_SID.set("CA9"))
    try:
        ContextFilter().filter(record)
    finally:
        REQUEST_ID.reset(tokens[0])
        CALL_SID.reset(tokens[1])
    text = TextFormatter().format(record)
    assert text.endswith(" INFO callpath.telephony hi 1 [rid-9 CA9]"), text
    outside = logging.LogRecord("callpath", logging.WARNING, "f.py", 1, "no request", (), None)
    ContextFilter().filter(outside)
    assert TextFormatter().format(outside).endswith(" WARNING callpath no request")
