"""Wire formats shared by the simulated services: error bodies and paging."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass
class SimReply:
    """A status, headers and JSON body the simulator will send (also used inside `$batch`)."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a body that is not JSON


class SimFailure(Exception):
    """Raised by a simulated route to answer with an error body."""

    def __init__(self, reply: SimReply) -> None:
        super().__init__(reply.status)
        self.reply = reply


def graph_error(status: int, code: str, message: str) -> SimFailure:
    """A Graph error (`{"error": {"code", "message", "innerError"}}`)."""
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": str(uuid.uuid4()),
        "client-request-id": str(uuid.uuid4()),
    }
    body = {"error": {"code": code, "message": message, "innerError": inner}}
    return SimFailure(SimReply(status, body))


def exchange_error(status: int, code: str, message: str, *, exception: str = "") -> SimFailure:
    """An InvokeCommand error as Exchange answers it [C, P]: a generic top-level message ("Error
    executing cmdlet", or "Invalid Operation" for a bad request), the cmdlet's own words in
    `details[].message` as `|Exception.Type|text`, and again in
    `innererror.internalexception`."""
    kind = exception or "Microsoft.Exchange.Management.Tasks.TaskException"
    generic = (
        "Invalid Operation" if status == 400 and code == "BadRequest" else "Error executing cmdlet"
    )
    words = message
    if message.startswith("|"):  # "|Exception.Type|text"
        _, kind, words = message.split("|", 2)
    body = {
        "error": {
            "code": code,
            "message": generic,
            "details": [{"code": "Context", "target": "", "message": f"|{kind}|{words}"}],
            "innererror": {
                "message": generic,
                "type": kind,
                "internalexception": {"message": words, "type": kind},
            },
        }
    }
    return SimFailure(SimReply(status, body))


def nul_body_reply(status: int) -> SimReply:
    """What Exchange sends an app with Exchange.ManageAsApp but no Exchange role, or asking for
    a cmdlet it does not have: a 403 whose body is NUL bytes, not JSON [C]."""
    return SimReply(status, raw=b"\x00" * 32)


def page(
    rows: list[dict[str, Any]], *, skip: int, size: int, next_url: str, context: str
) -> dict[str, Any]:
    """One OData page of `rows` from `skip`, with `@odata.nextLink` when more remain."""
    body: dict[str, Any] = {"@odata.context": context, "value": rows[skip : skip + size]}
    if skip + size < len(rows):
        body["@odata.nextLink"] = next_url.replace("{skip}", str(skip + size))
    return body


def max_page_size(prefer: str | None, cap: int) -> int:
    """The page size: `Prefer: odata.maxpagesize=N` if smaller than the server's cap."""
    for part in (prefer or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "odata.maxpagesize" and value.strip().isdigit():
            return max(1, min(cap, int(value.strip())))
    return cap
