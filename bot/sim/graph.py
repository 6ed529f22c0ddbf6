"""Microsoft Graph v1.0 routes of the simulated tenant, usable directly and inside `$batch`.

Each route names the application permissions that allow it (any one suffices), the licence it
needs and the rate budget it counts against, so a half-granted, unlicensed or busy tenant
answers as Graph does. What is documented [D], seen in production clients or community reports
[C], or guessed [guess]:

    permissions per route, licence-gated routes, $batch of 20                     [D]
    riskyUsers without Entra ID P2: 403 "…not licensed for this feature."         [C]
      (its error code)                                                            [guess]
    signIns without P1: 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant [C]
    identity protection: 1 call/s per tenant, 429 without Retry-After             [D]
    sign-ins, directory audit log, authentication methods: 5 calls per 10 s       [D]
      (their 429 carries Retry-After)                                             [guess]
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.sim import graph_data as data
from bot.sim.faults import Faults
from bot.sim.graph_query import GRAPH_ROOT, GraphRequest
from bot.sim.state import TenantState
from bot.sim.wire import SimFailure, SimReply, graph_error

BATCH_LIMIT = 20
P1, P2 = "AAD_PREMIUM_P1", "AAD_PREMIUM_P2"


Handler = Callable[[TenantState, GraphRequest, re.Match[str]], SimReply]


@dataclass(frozen=True)
class Budget:
    """At most `calls` in any `seconds`; `retry_after`: whether a 429 says when to come back."""

    name: str
    calls: int
    seconds: float
    retry_after: bool


IDENTITY_PROTECTION = Budget("identity-protection", 1, 1.0, retry_after=False)
# "Identity and access reports": auditLogRoot and authenticationMethod share one limit.
REPORTS = Budget("identity-reports", 5, 10.0, retry_after=True)
MESSAGE_TRACE = Budget("message-trace", 100, 300.0, retry_after=True)
BUDGETS = {
    "riskyUsers.get": IDENTITY_PROTECTION,
    "signIns.list": REPORTS,
    "directoryAudits.list": REPORTS,
    "authentication.methods": REPORTS,
    "messageTraces.list": MESSAGE_TRACE,
    "authentication.methods.delete": REPORTS,
}


def over_budget(state: TenantState, route: str) -> SimReply | None:
    """A 429 when this call would exceed the route's budget; else the call is counted."""
    budget = BUDGETS.get(route)
    if budget is None or not state.enforce_budgets:
        return None
    now = time.monotonic()
    window = state.budget_windows.setdefault(budget.name, deque())
    while window and now - window[0] >= budget.seconds:
        window.popleft()
    if len(window) < budget.calls:
        window.append(now)
        return None
    reply = graph_error(429, "TooManyRequests", "Too many requests.").reply
    if budget.retry_after:
        reply.headers["Retry-After"] = str(math.ceil(budget.seconds - (now - window[0])))
    return reply


@dataclass(frozen=True)
class Route:
    """A Graph route: what it matches, what it needs, what answers it."""

    method: str
    pattern: re.Pattern[str]
    name: str
    permissions: frozenset[str]
    handler: Handler
    licence: str | None = None


def _route(
    method: str,
    pattern: str,
    name: str,
    permissions: set[str],
    handler: Handler,
    licence: str | None = None,
) -> Route:
    return Route(method, re.compile(pattern), name, frozenset(permissions), handler, licence)


_READ_USERS = {
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
}
_U = r"^/users/(?P<key>[^/]+)"
ROUTES: list[Route] = [
    _route("GET", _U + "$", "users.get", _READ_USERS, data.get_user),
    # Updating a user needs a permission per property: the handler checks them.
    _route("PATCH", _U + "$", "users.update", set(), data.update_user),
    _route(
        "POST",
        _U + "/revokeSignInSessions$",
        "users.revokeSignInSessions",
        {"User.RevokeSessions.All", "User.ReadWrite.All", "Directory.ReadWrite.All"},
        data.revoke_sessions,
    ),
    _route("GET", r"^/users$", "users.list", _READ_USERS, data.list_users),
    # Another user's memberships: User.Read.All is the least privileged application permission.
    _route(
        "GET",
        _U + "/transitiveMemberOf$",
        "users.transitiveMemberOf",
        _READ_USERS | {"GroupMember.Read.All", "Group.Read.All"},
        data.transitive_member_of,
    ),
    _route(
        "GET",
        r"^/groups/(?P<key>[^/]+)$",
        "groups.get",
        {"GroupMember.Read.All", "Group.Read.All", "Directory.Read.All"},
        data.get_group,
    ),
    _route(
        "GET",
        _U + "/authentication/methods$",
        "authentication.methods",
        {"UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"},
        data.auth_methods,
    ),
    _route(
        "DELETE",
        _U + r"/authentication/(?P<kind>\w+)Methods/(?P<method>[^/]+)$",
        "authentication.methods.delete",
        {"UserAuthenticationMethod.ReadWrite.All"},
        data.delete_auth_method,
    ),
    _route(
        "GET",
        r"^/auditLogs/directoryAudits$",
        "directoryAudits.list",
        {"AuditLog.Read.All"},
        data.directory_audits,
    ),
    _route(
        "GET",
        _U + "/mailFolders/inbox/messageRules$",
        "messageRules.list",
        {"MailboxSettings.Read", "MailboxSettings.ReadWrite"},
        data.list_rules,
    ),
    _route(
        "PATCH",
        _U + r"/mailFolders/inbox/messageRules/(?P<rule>[^/]+)$",
        "messageRules.update",
        {"MailboxSettings.ReadWrite"},
        data.update_rule,
    ),
    _route(
        "DELETE",
        _U + r"/mailFolders/inbox/messageRules/(?P<rule>[^/]+)$",
        "messageRules.delete",
        {"MailboxSettings.ReadWrite"},
        data.delete_rule,
    ),
    _route(
        "GET",
        r"^/roleManagement/directory/roleAssignments$",
        "roleAssignments.list",
        {
            "RoleManagement.Read.Directory",
            "RoleManagement.ReadWrite.Directory",
            "Directory.Read.All",
        },
        data.role_assignments,
    ),
    _route(
        "DELETE",
        r"^/roleManagement/directory/roleAssignments/(?P<id>[^/]+)$",
        "roleAssignments.delete",
        {"RoleManagement.ReadWrite.Directory"},
        data.delete_role_assignment,
    ),
    _route(
        "GET",
        r"^/identityProtection/riskyUsers/(?P<key>[^/]+)$",
        "riskyUsers.get",
        {"IdentityRiskyUser.Read.All", "IdentityRiskyUser.ReadWrite.All"},
        data.risky_user,
        licence=P2,
    ),
    _route(
        "GET",
        r"^/auditLogs/signIns$",
        "signIns.list",
        {"AuditLog.Read.All"},
        data.sign_ins,
        licence=P1,
    ),
    _route(
        "GET",
        r"^/oauth2PermissionGrants$",
        "oauth2PermissionGrants.list",
        {"Directory.Read.All", "DelegatedPermissionGrant.Read.All"},
        data.grants,
    ),
    _route(
        "GET",
        r"^/servicePrincipals/(?P<id>[^/]+)$",
        "servicePrincipals.get",
        {"Application.Read.All", "Directory.Read.All"},
        data.service_principal,
    ),
    _route(
        "GET",
        r"^/admin/exchange/tracing/messageTraces$",
        "messageTraces.list",
        {"ExchangeMessageTrace.Read.All"},
        data.message_traces,
    ),
    _route(
        "GET",
        r"^/security/alerts_v2$",
        "alerts_v2.list",
        {"SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"},
        data.alerts,
    ),
]

FaultHook = Callable[[str, str], Awaitable[SimReply | None]]


async def dispatch(state: TenantState, request: GraphRequest, fault: FaultHook) -> SimReply:
    """Answer one Graph request: permissions, licence, faults, then the route itself."""
    for route in ROUTES:
        match = route.pattern.match(request.path)
        if not match or route.method != request.method:
            continue
        injected = await fault(route.name, "graph")
        if injected is not None:
            return injected
        if (throttled := over_budget(state, route.name)) is not None:
            return throttled
        if route.permissions and not route.permissions & request.roles:
            return graph_error(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            ).reply
        if route.licence and route.licence not in state.licences:
            return licence_error(route.licence).reply
        try:
            return route.handler(state, request, match)
        except SimFailure as failure:
            return failure.reply
    return graph_error(
        400, "BadRequest", f"Resource not found for the segment '{request.path}'."
    ).reply


def licence_error(licence: str) -> SimFailure:
    """What Graph answers when the tenant lacks Entra ID P1 (sign-ins) or P2 (risky users)."""
    if licence == P1:
        return graph_error(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        )
    return graph_error(403, "Forbidden", "Your tenant is not licensed for this feature.")


async def batch(
    state: TenantState, body: Any, base_url: str, roles: frozenset[str], fault: FaultHook
) -> SimReply:
    """`POST /$batch`: up to 20 requests, each answered (and throttled) independently."""
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        return graph_error(400, "BadRequest", "Invalid batch payload format.").reply
    if len(requests) > BATCH_LIMIT:
        return graph_error(
            400, "BadRequest", "Unable to deserialize content. Number of requests exceeds 20."
        ).reply

    async def answer(item: dict[str, Any]) -> dict[str, Any]:
        url = urlsplit(str(item.get("url", "")))
        path = url.path if url.path.startswith("/") else "/" + url.path
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        inner = GraphRequest(
            str(item.get("method", "GET")).upper(), path, query, item.get("body"), base_url, roles
        )
        reply = await dispatch(state, inner, fault)
        return {
            "id": item.get("id"),
            "status": reply.status,
            "headers": reply.headers,
            "body": reply.body,
        }

    # Graph runs the requests of a batch side by side unless one `dependsOn` another [D].
    responses = await asyncio.gather(*(answer(item) for item in requests))
    return SimReply(200, {"responses": responses})


__all__ = ["GRAPH_ROOT", "ROUTES", "Faults", "GraphRequest", "batch", "dispatch"]
