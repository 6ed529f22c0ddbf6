"""Reading Graph requests in the simulator: the request, `$select`, `$filter`, paging."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode

from bot.sim.state import SimUser, TenantState
from bot.sim.wire import SimReply, graph_error, page

GRAPH_ROOT = "/v1.0"


@dataclass(frozen=True)
class GraphRequest:
    """One Graph request as the routes see it, whether it came alone or inside `$batch`."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    base_url: str
    roles: frozenset[str] = frozenset()


def user_of(state: TenantState, key: str) -> SimUser:
    """The user named in the URL, or Graph's 404."""
    user = state.user(unquote(key))
    if user is None:
        raise graph_error(
            404,
            "Request_ResourceNotFound",
            f"Resource '{unquote(key)}' does not exist or one of its queried "
            "reference-property objects are not present.",
        )
    return user


def select(resource: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    """Apply `$select` to one resource."""
    fields = [f.strip() for f in query.get("$select", "").split(",") if f.strip()]
    if not fields:
        return resource
    return {k: v for k, v in resource.items() if k in fields or k in ("id", "@odata.type")}


def paged(
    state: TenantState, rows: list[dict[str, Any]], request: GraphRequest, *, max_top: int = 999
) -> SimReply:
    """OData paging with `$top` (1..max_top for this collection) and `$skiptoken`."""
    top = request.query.get("$top", str(state.graph_page_size))
    if not top.isdigit() or not 1 <= int(top) <= max_top:
        raise graph_error(400, "Request_BadRequest", f"Invalid page size specified: '{top}'.")
    skip = int(request.query.get("$skiptoken", "0") or 0)
    rest = {k: v for k, v in request.query.items() if k != "$skiptoken"} | {"$top": top}
    next_url = (
        f"{request.base_url}{GRAPH_ROOT}{request.path}?{urlencode(rest, safe='$,')}"
        "&$skiptoken={skip}"
    )
    context = f"{request.base_url}{GRAPH_ROOT}/$metadata#{request.path.strip('/')}"
    return SimReply(
        200,
        page(
            [select(r, request.query) for r in rows],
            skip=skip,
            size=int(top),
            next_url=next_url,
            context=context,
        ),
    )


_CLAUSE = re.compile(r"^\(?\s*([\w/]+) (eq|ge|le) ('(?:[^']|'')*'|[0-9TZ:.\-+]+)\s*\)?$")


def filters(request: GraphRequest, allowed: set[str]) -> dict[str, tuple[str, str]]:
    """Parse a `$filter` of `field op value` clauses joined by `and`."""
    text = request.query.get("$filter", "")
    found: dict[str, tuple[str, str]] = {}
    for clause in (c for c in re.split(r"\s+and\s+", text) if c.strip()):
        match = _CLAUSE.match(clause.strip())
        if not match or match[1] not in allowed:
            raise graph_error(400, "BadRequest", f"Invalid filter clause: {clause.strip()}")
        found[f"{match[1]} {match[2]}"] = (match[2], match[3].strip("'").replace("''", "'"))
    return found


def since(clauses: dict[str, tuple[str, str]], field: str) -> datetime | None:
    """The `field ge <time>` bound of a filter, if present."""
    if f"{field} ge" not in clauses:
        return None
    value = clauses[f"{field} ge"][1]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise graph_error(400, "BadRequest", f"Invalid DateTime '{value}'.") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
