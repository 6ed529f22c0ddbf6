"""The simulated Graph resources: each function answers one route from the tenant's state."""

from __future__ import annotations

import hashlib
import re
import string
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from bot.sim.evidence import SimRule
from bot.sim.graph_query import GRAPH_ROOT, GraphRequest, filters, paged, select, since, user_of
from bot.sim.wire import SimReply, graph_error

if TYPE_CHECKING:
    from bot.sim.state import TenantState

PATCH_PERMISSIONS: dict[str, set[str]] = {
    "passwordProfile": {"User-PasswordProfile.ReadWrite.All", "User.ReadWrite.All"},
    "accountEnabled": {"User.EnableDisableAccount.All", "User.ReadWrite.All"},
}
ROLE_TEMPLATES = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Exchange Administrator": "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Security Administrator": "194ae4cb-b126-40b2-bd5b-6091b380977d",
}


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def get_user(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /users/{id | userPrincipalName}`."""

    user = user_of(state, match["key"])
    context = f"{request.base_url}{GRAPH_ROOT}/$metadata#users/$entity"
    return SimReply(200, {"@odata.context": context, **select(user.graph(), request.query)})


def get_group(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /groups/{id}`."""

    key = unquote(match["key"]).lower()
    group = next((g for g in state.groups if g.id.lower() == key), None)
    if group is None:
        raise graph_error(
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its queried reference-property objects "
            "are not present.",
        )
    row = {"id": group.id, "displayName": group.display_name}
    return SimReply(200, select(row, request.query))


def list_users(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /users`, paged."""

    if "$filter" in request.query:
        raise graph_error(400, "Request_UnsupportedQuery", "The simulator does not filter users.")
    return paged(state, [u.graph() for u in state.users], request)


def transitive_member_of(
    state: TenantState, request: GraphRequest, match: re.Match[str]
) -> SimReply:
    """`GET /users/{id}/transitiveMemberOf`: groups, direct and nested, paged."""

    user = user_of(state, match["key"])
    rows = [
        select(
            {"@odata.type": "#microsoft.graph.group", "id": g.id, "displayName": g.display_name},
            request.query,
        )
        for g in state.groups_of(user)
    ]
    return paged(state, rows, request)


def _strong(password: str) -> bool:
    classes = [
        any(c in group for c in password)
        for group in (
            string.ascii_lowercase,
            string.ascii_uppercase,
            string.digits,
            string.punctuation + " ",
        )
    ]
    return 8 <= len(password) <= 256 and sum(classes) >= 3


def update_user(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`PATCH /users/{id}`: passwordProfile (reset) and accountEnabled (block sign-in)."""

    user = user_of(state, match["key"])
    body = request.body if isinstance(request.body, dict) else {}
    for prop in body:
        allowed = PATCH_PERMISSIONS.get(prop)
        if allowed is None:
            raise graph_error(400, "Request_BadRequest", f"The simulator does not update '{prop}'.")
        if not allowed & request.roles:
            raise graph_error(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
    evidence = state.evidence_of(user.upn)
    if "passwordProfile" in body:
        profile = body["passwordProfile"] or {}
        if evidence.federated:
            raise graph_error(
                400,
                "Request_BadRequest",
                "Password cannot be updated for a "
                "federated user; change it in the on-premises directory.",
            )
        if not _strong(str(profile.get("password", ""))):
            raise graph_error(
                400,
                "Request_BadRequest",
                "The specified password does not comply with password "
                "complexity requirements. Please provide a different password.",
            )
        # Like Entra ID, keep no password: a hash lets tests check what the admin was sent.
        evidence.password_changed = user.password_changed = datetime.now(UTC)
        evidence.password_sha256 = hashlib.sha256(str(profile["password"]).encode()).hexdigest()
        evidence.force_change = bool(profile.get("forceChangePasswordNextSignIn"))
    if "accountEnabled" in body:
        if user.on_premises_sync:
            raise graph_error(
                400,
                "Request_BadRequest",
                "Unable to update the specified properties for on-premises mastered Directory "
                "Sync objects or objects currently undergoing migration.",
            )
        user.account_enabled = bool(body["accountEnabled"])
    return SimReply(204)


def revoke_sessions(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`POST /users/{id}/revokeSignInSessions`."""

    user = user_of(state, match["key"])
    state.evidence_of(user.upn).sessions_revoked = datetime.now(UTC)
    return SimReply(200, {"@odata.context": "$metadata#Edm.Boolean", "value": True})


_METHOD_TYPES = {
    "password": "#microsoft.graph.passwordAuthenticationMethod",
    "phone": "#microsoft.graph.phoneAuthenticationMethod",
    "microsoftAuthenticator": "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
    "email": "#microsoft.graph.emailAuthenticationMethod",
    "fido2": "#microsoft.graph.fido2AuthenticationMethod",
}


def auth_methods(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /users/{id}/authentication/methods`."""

    user = user_of(state, match["key"])
    rows = []
    for m in state.evidence_of(user.upn).methods:
        row: dict[str, Any] = {"@odata.type": _METHOD_TYPES[m.kind], "id": m.id}
        if m.kind == "phone":  # v1.0 phone methods carry no createdDateTime
            row.update(phoneNumber=m.detail, phoneType="mobile", smsSignInState="notSupported")
        else:
            row["createdDateTime"] = _iso(m.created)
        if m.kind == "microsoftAuthenticator":
            row.update(displayName=m.detail, deviceTag="SoftwareTokenActivated")
        if m.kind == "email":
            row["emailAddress"] = m.detail
        if m.kind == "password":
            row["password"] = None
        rows.append(row)
    return SimReply(200, {"value": rows})


def delete_auth_method(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`DELETE /users/{id}/authentication/{kind}Methods/{id}` (not the password)."""
    user = user_of(state, match["key"])
    methods = state.evidence_of(user.upn).methods
    for method in methods:
        if method.id == match["method"] and method.kind == match["kind"]:
            if method.kind == "password":
                raise graph_error(400, "badRequest", "The password method cannot be deleted.")
            methods.remove(method)
            return SimReply(204)
    raise graph_error(404, "itemNotFound", "The authentication method was not found.")


_REGISTERED = {
    "phone": "Mobile Phone SMS",
    "microsoftAuthenticator": "Authenticator App",
    "email": "Email",
    "fido2": "FIDO2 security key",
}


def directory_audits(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /auditLogs/directoryAudits?$filter=activityDisplayName eq '…' and activityDateTime
    ge …`: security-info registrations of users' sign-in methods."""
    clauses = filters(request, {"activityDisplayName", "activityDateTime"})
    wanted = clauses.get("activityDisplayName eq", ("", "User registered security info"))[1]
    start = since(clauses, "activityDateTime")
    rows = []
    for user in state.users:
        for m in state.evidence_of(user.upn).methods:
            if m.created is None or (start and m.created < start) or m.kind == "password":
                continue
            if wanted != "User registered security info":
                continue
            rows.append(
                {
                    "id": f"Directory_{m.id}",
                    "category": "UserManagement",
                    "activityDateTime": _iso(m.created),
                    "activityDisplayName": wanted,
                    "result": "success",
                    "loggedByService": "Authentication Methods",
                    "initiatedBy": {"user": {"id": user.id, "userPrincipalName": user.upn}},
                    "targetResources": [
                        {
                            "id": user.id,
                            "type": "User",
                            "userPrincipalName": user.upn,
                            "displayName": user.display_name,
                        }
                    ],
                    "resultReason": f"User registered {_REGISTERED[m.kind]}",
                    "additionalDetails": [],
                }
            )
    return paged(state, rows, request)


def graph_rule(rule: SimRule) -> dict[str, Any]:
    """A rule as Graph's messageRule."""

    def people(addresses: list[str]) -> list[dict[str, Any]]:
        return [{"emailAddress": {"name": a, "address": a}} for a in addresses]

    actions: dict[str, Any] = {"stopProcessingRules": rule.stop_processing}
    for key, value in (
        ("forwardTo", people(rule.forward_to)),
        ("redirectTo", people(rule.redirect_to)),
        ("forwardAsAttachmentTo", people(rule.forward_as_attachment_to)),
    ):
        if value:
            actions[key] = value
    if rule.delete:
        actions["delete"] = True
    if rule.permanent_delete:
        actions["permanentDelete"] = True
    if rule.mark_as_read:
        actions["markAsRead"] = True
    if rule.move_to_folder:
        actions["moveToFolder"] = "AAMkAD" + str(abs(hash(rule.move_to_folder)))
    conditions: dict[str, Any] = {}
    if rule.subject_or_body_contains:
        conditions["bodyOrSubjectContains"] = rule.subject_or_body_contains
    if rule.subject_contains:
        conditions["subjectContains"] = rule.subject_contains
    if rule.body_contains:
        conditions["bodyContains"] = rule.body_contains
    if rule.from_addresses:
        conditions["fromAddresses"] = people(rule.from_addresses)
    return {
        "id": rule.id,
        "displayName": rule.name,
        "sequence": 1,
        "isEnabled": rule.enabled,
        "hasError": False,
        "isReadOnly": False,
        "conditions": conditions,
        "actions": actions,
    }


def _rules_of(state: TenantState, key: str) -> list[SimRule]:

    return state.evidence_of(user_of(state, key).upn).rules


def list_rules(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /users/{id}/mailFolders/inbox/messageRules` (hidden rules are not listed)."""
    rows = [graph_rule(r) for r in _rules_of(state, match["key"]) if not r.hidden]
    return SimReply(200, {"value": rows})


def _rule(state: TenantState, match: re.Match[str]) -> SimRule:
    for rule in _rules_of(state, match["key"]):
        if rule.id == match["rule"] and not rule.hidden:
            return rule
    raise graph_error(404, "ErrorItemNotFound", "The specified object was not found in the store.")


def update_rule(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`PATCH …/messageRules/{id}` (isEnabled)."""
    rule = _rule(state, match)
    body = request.body if isinstance(request.body, dict) else {}
    if "isEnabled" in body:
        rule.enabled = bool(body["isEnabled"])
    return SimReply(200, graph_rule(rule))


def delete_rule(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`DELETE …/messageRules/{id}`."""
    rule = _rule(state, match)
    _rules_of(state, match["key"]).remove(rule)
    return SimReply(204)


def role_assignments(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /roleManagement/directory/roleAssignments?$filter=principalId eq '…'`."""

    clauses = filters(request, {"principalId"})
    if "principalId eq" not in clauses:
        raise graph_error(400, "BadRequest", "A filter on principalId is required here.")
    user = state.user(clauses["principalId eq"][1])
    if user is None:
        return paged(state, [], request)
    rows = []
    for name in state.evidence_of(user.upn).roles:
        template = ROLE_TEMPLATES.get(name, "00000000-0000-0000-0000-000000000000")
        row: dict[str, Any] = {
            "id": f"{template}-{user.id}",
            "principalId": user.id,
            "roleDefinitionId": template,
            "directoryScopeId": "/",
        }
        if "roleDefinition" in request.query.get("$expand", ""):
            row["roleDefinition"] = {
                "id": template,
                "displayName": name,
                "templateId": template,
                "isBuiltIn": True,
            }
        rows.append(row)
    return paged(state, rows, request)


def delete_role_assignment(
    state: TenantState, request: GraphRequest, match: re.Match[str]
) -> SimReply:
    """`DELETE /roleManagement/directory/roleAssignments/{id}`."""
    for user in state.users:
        evidence = state.evidence_of(user.upn)
        for name in list(evidence.roles):
            if f"{ROLE_TEMPLATES.get(name)}-{user.id}" == match["id"]:
                evidence.roles.remove(name)
                return SimReply(204)
    raise graph_error(404, "Request_ResourceNotFound", f"Resource '{match['id']}' does not exist.")


def risky_user(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /identityProtection/riskyUsers/{id}` (404 for a user who was never risky)."""

    user = user_of(state, match["key"])
    evidence = state.evidence_of(user.upn)
    if evidence.risk_level is None:
        raise graph_error(404, "ResourceNotFound", "The risky user was not found.")
    return SimReply(
        200,
        {
            "id": user.id,
            "isDeleted": False,
            "isProcessing": False,
            "riskLastUpdatedDateTime": _iso(datetime.now(UTC) - timedelta(hours=2)),
            "riskLevel": evidence.risk_level,
            "riskState": evidence.risk_state,
            "riskDetail": "none",
            "userDisplayName": user.display_name,
            "userPrincipalName": user.upn,
        },
    )


def sign_ins(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /auditLogs/signIns?$filter=userId eq '…' and createdDateTime ge …`."""

    clauses = filters(request, {"userId", "createdDateTime"})
    user = state.user(clauses.get("userId eq", ("", ""))[1])
    start = since(clauses, "createdDateTime")
    rows = []
    for s in sorted(
        state.evidence_of(user.upn).sign_ins if user else [], key=lambda s: s.at, reverse=True
    ):
        if start and s.at < start:
            continue
        rows.append(
            {
                "id": s.id,
                "createdDateTime": _iso(s.at),
                "userId": user.id if user else None,
                "userPrincipalName": user.upn if user else None,
                "appDisplayName": s.app,
                "ipAddress": s.ip,
                "clientAppUsed": "Browser",
                "status": {
                    "errorCode": s.error_code,
                    "failureReason": "Other." if s.error_code == 0 else "Invalid password",
                },
                "location": {"city": s.city, "state": None, "countryOrRegion": s.country},
            }
        )
    return paged(state, rows, request, max_top=1000)


def grants(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /oauth2PermissionGrants?$filter=principalId eq '…'`."""

    clauses = filters(request, {"principalId", "clientId"})
    user = state.user(clauses.get("principalId eq", ("", ""))[1])
    rows = [
        {
            "id": g.id,
            "clientId": g.client_id,
            "consentType": g.consent_type,
            "principalId": user.id if user else None,
            "resourceId": "00000003-0000-0000-c000-000000000000",
            "scope": g.scope,
        }
        for g in (state.evidence_of(user.upn).grants if user else [])
    ]
    return paged(state, rows, request)


def service_principal(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /servicePrincipals/{id}` for apps users consented to."""
    for user in state.users:
        for g in state.evidence_of(user.upn).grants:
            if g.client_id == match["id"]:
                publisher = (
                    {"displayName": g.verified_publisher}
                    if g.verified_publisher
                    else {"displayName": None}
                )
                return SimReply(
                    200,
                    {
                        "id": g.client_id,
                        "appId": g.client_id,
                        "displayName": g.client_name,
                        "verifiedPublisher": publisher,
                    },
                )
    raise graph_error(404, "Request_ResourceNotFound", f"Resource '{match['id']}' does not exist.")


def message_traces(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /admin/exchange/tracing/messageTraces?$filter=senderAddress eq '…' and …`."""

    clauses = filters(request, {"senderAddress", "receivedDateTime"})
    sender = clauses.get("senderAddress eq", ("", ""))[1]
    start = since(clauses, "receivedDateTime")
    rows = [
        {
            "id": t.id,
            "senderAddress": sender,
            "recipientAddress": t.recipient,
            "receivedDateTime": _iso(t.at),
            "status": t.status,
            "subject": t.subject,
            "size": 24512,
            "messageId": f"<{t.id}@contoso.com>",
            "fromIP": "203.0.113.50",
        }
        for t in state.evidence_of(sender).sent
        if not start or t.at >= start
    ]
    return paged(state, rows, request, max_top=5000)


def alerts(state: TenantState, request: GraphRequest, match: re.Match[str]) -> SimReply:
    """`GET /security/alerts_v2?$filter=serviceSource eq '…' and createdDateTime ge …`."""

    clauses = filters(request, {"serviceSource", "createdDateTime"})
    source = clauses.get("serviceSource eq", ("", ""))[1]
    start = since(clauses, "createdDateTime")
    rows = [
        a
        for a in state.alerts
        if (not source or a["serviceSource"] == source)
        and (not start or datetime.fromisoformat(a["createdDateTime"]) >= start)
    ]
    return paged(state, rows, request)
