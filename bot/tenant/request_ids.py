"""Request ids on every call to Microsoft, so Microsoft support can trace one.

Every outbound request carries a fresh `client-request-id` (and `return-client-request-id:
true`), which Graph and Exchange Online log and echo [D: Graph "client-request-id" request
header]. When an answer is an error (4xx/5xx), one log line names the call (method and path,
without the query, which can hold a user's address) with Microsoft's `request-id`, the
`client-request-id` and Graph's `x-ms-ags-diagnostic` (the serving data centre): what a support
case asks for.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from bot import metrics

log = logging.getLogger(__name__)

UPSTREAM_HEADERS = ("request-id", "client-request-id", "x-ms-ags-diagnostic")
CMDLET = re.compile(r"[A-Z][a-z]+-[A-Za-z]{2,40}")
# A path segment kept in a route label: a name (users, oauth2PermissionGrants, $batch,
# alerts_v2); anything else (a GUID, an address, an assignment id) becomes {id}.
LITERAL = re.compile(r"\$?[A-Za-z][A-Za-z0-9]{0,40}(?:_v\d)?")


async def tag_request(request: httpx.Request) -> None:
    """httpx request hook: a client-request-id of our own unless the caller set one."""
    if "client-request-id" not in request.headers:
        request.headers["client-request-id"] = str(uuid.uuid4())
        request.headers["return-client-request-id"] = "true"


def service_of(request: httpx.Request) -> str:
    """Which of Microsoft's services a request went to (a bounded metrics label)."""
    path = request.url.path
    if "/oauth2/" in path or path.endswith("/openid-configuration"):
        return "identity"
    if path.endswith("/InvokeCommand"):
        return "exchange"
    return "graph"


def operation_of(request: httpx.Request, service: str) -> str:
    """What was called, as a bounded metrics label: the Exchange cmdlet, the Graph route with
    ids (and addresses) replaced by {id}, or the identity endpoint."""
    if service == "identity":
        return "token" if "/oauth2/" in request.url.path else "discovery"
    if service == "exchange":
        try:
            name = json.loads(request.content)["CmdletInput"]["CmdletName"]
        except (ValueError, KeyError, TypeError):
            return "other"
        return name if isinstance(name, str) and CMDLET.fullmatch(name) else "other"
    segments = request.url.path.split("/")
    start = next((i for i, s in enumerate(segments) if s in ("v1.0", "beta")), None)
    if start is None:
        return "other"
    kept = [s if LITERAL.fullmatch(s) else "{id}" for s in segments[start + 1 :]]
    route = "/".join([segments[start], *kept])
    return route if len(route) <= 80 else "other"


async def log_failure(response: httpx.Response) -> None:
    """httpx response hook: every answer counted; an error answer is logged with Microsoft's
    ids."""
    request = response.request
    service = service_of(request)
    metrics.UPSTREAM_CALLS.labels(
        service, operation_of(request, service), request.method, str(response.status_code)
    ).inc()
    if response.status_code < 400:
        return
    ids = {
        name.replace("-", "_"): response.headers.get(name)
        or (request.headers.get(name) if name == "client-request-id" else None)
        for name in UPSTREAM_HEADERS
    }
    log.warning(
        "tenant call failed",
        extra={
            "status": response.status_code,
            "method": request.method,
            "path": request.url.path[:200],
            **{f"upstream_{k}": v for k, v in ids.items() if v},
        },
    )


EVENT_HOOKS: dict[str, list[Callable[..., Any]]] = {
    "request": [tag_request],
    "response": [log_failure],
}
