"""Logging: one JSON object per line, with the current activity id as correlation id.

Every record passes `RedactSecrets`, which masks bearer tokens, JWTs, `Authorization` headers
and anything named like a password or secret, so a careless `log.info(...)` cannot leak one.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

correlation_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="")

_SECRET_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
    re.compile(
        r"(?i)((?:authorization|password|passwd|secret|client_secret|access_token|"
        r"refresh_token|client_assertion|temporary_password)[\"']?\s*[:=]\s*[\"']?)"
        r"[^\s\"',;&}\\]+"
    ),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
)
_REDACTED = "[redacted]"


def redact(text: str) -> str:
    """Mask tokens, passwords and key material inside `text`."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + _REDACTED, text)
        else:
            text = pattern.sub(_REDACTED, text)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites each record's message and exception text with secrets masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, redacted, so formatters cannot undo it."""
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, extras."""

    _STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        """Serialise `record`, including fields passed through `extra=`."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if cid := correlation_id.get():
            entry["correlation_id"] = cid
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(_redacted(entry), default=str, ensure_ascii=False)


def _redacted(value: Any) -> Any:
    """`value` with every string inside it redacted (serialise afterwards, never before)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(v) for v in value]
    return value


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every log record to stderr (or `stream`) as redacted JSON lines."""
    # A failing handler must not print the raw record and exception chain (unredacted) to
    # stderr, which is what logging does by default.
    logging.raiseExceptions = False
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiohttp.access", "msal", "urllib3", "httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
