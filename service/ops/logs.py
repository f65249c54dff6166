"""Logging: plain text or one JSON object per line (`WHOKNOWS_LOG_FORMAT=json`), each carrying the id of
the request it belongs to.

What is logged at info level: one access line per request (request id, method, route template, status,
duration, how the caller was identified). Never the query text, the request body or a token: they are
what users typed or hold, and logs are read by more people than the index is.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

ACCESS_LOGGER = "whoknows.access"
# A client's own X-Request-ID is kept when it looks like an id (a proxy's or a gateway's), so one id
# follows the request through every hop; anything else gets a fresh one.
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Attributes every LogRecord has; whatever else a record carries came from `extra=` and is printed.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

current_request_id: ContextVar[str | None] = ContextVar("whoknows_request_id", default=None)


def request_id_from(header: str | None) -> str:
    """The client's X-Request-ID when it is a plausible id, else a new random one."""
    if header and _CLIENT_REQUEST_ID.match(header):
        return header
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Stamps every record with the id of the request being served (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", "request_id", ...extra fields, "error"}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`LEVEL logger: message [request_id]`, the format the CLI always printed, plus the request id."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        request_id = getattr(record, "request_id", None)
        if request_id:
            text += f" [{request_id}]"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def configure_logging(log_format: str, level: int) -> None:
    """One handler on the root logger, to stderr (stdout is data: JSON output, the MCP stdio stream)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def enable_access_log() -> None:
    """A server logs every request at info level, whatever the level of the rest."""
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO)
