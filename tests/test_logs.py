"""Logs are JSON lines with the correlation id, and never carry secrets."""

from __future__ import annotations

import io
import json
import logging

import pytest

from bot.logs import JsonFormatter, RedactSecrets, correlation_id, redact


@pytest.mark.parametrize(
    "secret_text",
    [
        "Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl",
        "token eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2lnbmF0dXJl leaked",
        "client_secret=Sup3r~Secret.Value",
        '{"password": "Tr0ub4dor&3"}',
        "temporary_password: Xk9!pq2Lm",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\n-----END PRIVATE KEY-----",
    ],
)
def test_redact_masks_secrets(secret_text: str) -> None:
    cleaned = redact(secret_text)
    for secret in ("eyJhbGciOiJSUzI1NiJ9", "Sup3r~Secret", "Tr0ub4dor", "Xk9!pq2Lm", "MIIEvQ"):
        assert secret not in cleaned
    assert "[redacted]" in cleaned


def test_log_line_is_json_with_correlation_id_and_no_secret() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    token = correlation_id.set("activity-42")
    try:
        logger.warning("sent %s", "Bearer abc.def-ghi", extra={"verb": "open_case"})
        try:
            raise RuntimeError("password=hunter2")
        except RuntimeError:
            logger.exception("failed")
    finally:
        correlation_id.reset(token)
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "sent Bearer [redacted]"
    assert first["correlation_id"] == "activity-42"
    assert first["verb"] == "open_case"
    assert first["level"] == "WARNING"
    assert "hunter2" not in json.dumps(second)
    assert "RuntimeError" in second["exception"]
