"""Log output of ``callpath serve``: plain text, or one JSON object a line.

``CALLPATH_LOG_FORMAT=json`` writes every log record, callpath's and uvicorn's, as one
JSON line on standard error: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
the ``request_id`` and ``call_sid`` of the request that caused it (see
``backend.observability.context``), any ``extra`` fields the call site gave, and ``exc``
(the traceback, as one string) for errors. ``text`` (the default) writes the same facts
as a readable line. :func:`logging_config` is the ``logging.config.dictConfig`` document
for both, which uvicorn applies in each of its worker processes too.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from backend.observability.context import CALL_SID, REQUEST_ID

LOG_FORMATS = ("text", "json")
# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
    | {"message", "asctime", "request_id", "call_sid", "color_message", "taskName"}
)


class ContextFilter(logging.Filter):
    """Adds ``request_id`` and ``call_sid`` of the request being served to each record
    (empty outside a request; a record that already names them keeps its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", ""):
            record.request_id = REQUEST_ID.get()
        if not getattr(record, "call_sid", ""):
            record.call_sid = CALL_SID.get()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    seconds = int(record.created)
    millis = int((record.created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside values are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "call_sid"):
            value = getattr(record, key, "")
            if value:
                line[key] = value
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """``2026-01-02T03:04:05.678Z INFO callpath.telephony message [request_id call_sid]``."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{_timestamp(record)} {record.levelname} {record.name} {record.getMessage()}"
        context = " ".join(
            v for v in (getattr(record, "request_id", ""), getattr(record, "call_sid", "")) if v
        )
        if context:
            text += f" [{context}]"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """The ``dictConfig`` document for ``callpath serve`` (and uvicorn's ``log_config``).

    Raises ValueError naming the setting when the format or level is not one we know.
    """
    if log_format not in LOG_FORMATS:
        raise ValueError(
            f"setting CALLPATH_LOG_FORMAT: {log_format!r} is not one of {', '.join(LOG_FORMATS)}"
        )
    name = level.upper()
    if name not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError(f"setting CALLPATH_LOG_LEVEL: {level!r} is not a log level")
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": log_format,
        "filters": ["context"],
    }
    own = {"handlers": ["default"], "level": name, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": f"{__name__}.ContextFilter"}},
        "formatters": {
            "text": {"()": f"{__name__}.TextFormatter"},
            "json": {"()": f"{__name__}.JsonFormatter"},
        },
        "handlers": {"default": handler},
        "loggers": {
            "callpath": dict(own),
            "uvicorn": dict(own),
            "uvicorn.error": {"level": name},
            "uvicorn.access": dict(own),
        },
    }
