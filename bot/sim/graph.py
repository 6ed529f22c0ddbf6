"""Microsoft Graph v1.0 routes of the simulated tenant, usable directly and inside `$batch`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from bot.sim.state import TenantState
from bot.sim.wire import SimFailure, SimReply, graph_error, page

GRAPH_ROOT = "/v1.0"
BATCH_LIMIT = 20


@dataclass(frozen=True)
class GraphRequest:
    """One Graph request as the routes see it, whether it came alone or inside `$batch`."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    base_url: str


Route = Callable[[TenantState, GraphRequest, re.Match[str]], SimReply]


def _select(resource: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    fields = [f.strip() for f in query.get("$select", "").split(",") if f.strip()]
    if not fields:
        return resource
    return {k: v for k, v in resource.items() if k in fields or k == "id"}


def get_user(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /users/{id | userPrincipalName}`."""
    key = unquote(match["key"])
    user = state.user(key)
    if user is None:
        raise graph_error(
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its queried reference-property objects "
            "are not present.",
        )
    context = f"{request.base_url}{GRAPH_ROOT}/$metadata#users/$entity"
    return SimReply(200, {"@odata.context": context, **_select(user.graph(), request.query)})


def list_users(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /users` with `$top`, `$select` and `$skiptoken` paging."""
    if "$filter" in request.query:
        raise graph_error(400, "Request_UnsupportedQuery", "The simulator does not filter users.")
    top = request.query.get("$top", str(state.graph_page_size))
    if not top.isdigit() or not 1 <= int(top) <= 999:
        raise graph_error(400, "Request_BadRequest", f"Invalid page size specified: '{top}'.")
    skip = int(request.query.get("$skiptoken", "0") or 0)
    rows = [_select(u.graph(), request.query) for u in state.users]
    select = f"&$select={request.query['$select']}" if "$select" in request.query else ""
    next_url = f"{request.base_url}{GRAPH_ROOT}/users?$top={top}{select}&$skiptoken={{skip}}"
    context = f"{request.base_url}{GRAPH_ROOT}/$metadata#users"
    return SimReply(200, page(rows, skip=skip, size=int(top), next_url=next_url, context=context))


ROUTES: list[tuple[str, re.Pattern[str], Route]] = [
    ("GET", re.compile(r"^/users/(?P<key>[^/]+)$"), get_user),
    ("GET", re.compile(r"^/users$"), list_users),
]


def dispatch(state: TenantState, request: GraphRequest) -> SimReply:
    """Answer one Graph request (errors become Graph error bodies)."""
    for method, pattern, route in ROUTES:
        match = pattern.match(request.path)
        if match and method == request.method:
            try:
                return route(state, request, match)
            except SimFailure as failure:
                return failure.reply
    return graph_error(
        400, "BadRequest", f"Resource not found for the segment '{request.path}'."
    ).reply


def batch(state: TenantState, body: Any, base_url: str) -> SimReply:
    """`POST /$batch`: up to 20 requests, each answered independently."""
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        return graph_error(400, "BadRequest", "Invalid batch payload format.").reply
    if len(requests) > BATCH_LIMIT:
        return graph_error(
            400, "BadRequest", "Unable to deserialize content. Number of requests exceeds 20."
        ).reply
    responses = []
    for item in requests:
        url = urlsplit(str(item.get("url", "")))
        path = url.path if url.path.startswith("/") else "/" + url.path
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        inner = GraphRequest(
            str(item.get("method", "GET")).upper(), path, query, item.get("body"), base_url
        )
        reply = dispatch(state, inner)
        responses.append(
            {
                "id": item.get("id"),
                "status": reply.status,
                "headers": reply.headers,
                "body": reply.body,
            }
        )
    return SimReply(200, {"responses": responses})
