"""The checks of a combination of settings that pydantic cannot express field by field: a tenant
login that is whole, a credential that fits it, well-formed id lists, a readable CA bundle and a
bot identity that fits its type. `Settings.problems` runs them at start-up."""

from __future__ import annotations

import ssl
from pathlib import Path

from bot.settings import (
    DOMAIN,
    GUID,
    THUMBPRINT,
    AppType,
    ManagedIdentity,
    Settings,
    is_loopback,
)
from bot.store.db import check_url


def tenant_problems(s: Settings) -> list[str]:
    given = s._tenant_settings_given()
    if s.demo_forced:
        if given:
            return [
                f"DEMO=true runs the simulated tenant, but {', '.join(given)} name a real "
                "one: remove DEMO or those settings"
            ]
        return []
    if not given:
        return []  # demo mode, or the bot's own identity (checked with the bot identity)
    found: list[str] = []
    needed = [("BLOCKWATCH_TENANT_ID", s.tenant_id)]
    if s.managed_identity is not ManagedIdentity.SYSTEM:
        needed.append(("BLOCKWATCH_CLIENT_ID", s.client_id))
    missing = [name for name, value in needed if not value]
    if missing:
        found.append(
            f"{' and '.join(missing)} missing: {', '.join(given)} set means a real tenant, "
            "which needs BLOCKWATCH_TENANT_ID, BLOCKWATCH_CLIENT_ID and a secret, a "
            "certificate or BLOCKWATCH_MANAGED_IDENTITY (set none of them to use the bot's "
            "own identity, or for demo mode)"
        )
    if s.tenant_id and not (GUID.fullmatch(s.tenant_id) or DOMAIN.fullmatch(s.tenant_id)):
        found.append(
            f"BLOCKWATCH_TENANT_ID must be the directory (tenant) id, a GUID, or a domain of "
            f"the tenant such as contoso.onmicrosoft.com; got {s.tenant_id!r}"
        )
    if s.client_id and not GUID.fullmatch(s.client_id):
        found.append(
            "BLOCKWATCH_CLIENT_ID must be the application (client) id of the app "
            f"registration or managed identity, a GUID; got {s.client_id!r}"
        )
    found.extend(credential_problems(s))
    return found


def credential_problems(s: Settings) -> list[str]:
    found: list[str] = []
    has_secret = bool(s.client_secret.get_secret_value())
    cert = s.client_certificate_path
    kinds = sum((has_secret, cert is not None, s.managed_identity is not None))
    if kinds != 1:
        found.append(
            "set exactly one of BLOCKWATCH_CLIENT_SECRET, BLOCKWATCH_CLIENT_CERTIFICATE_PATH "
            "(with BLOCKWATCH_CLIENT_CERTIFICATE_THUMBPRINT) or BLOCKWATCH_MANAGED_IDENTITY"
        )
    if s.managed_identity is ManagedIdentity.SYSTEM and s.client_id:
        found.append(
            "BLOCKWATCH_MANAGED_IDENTITY=system takes no BLOCKWATCH_CLIENT_ID (for a "
            "user-assigned identity set BLOCKWATCH_MANAGED_IDENTITY=user and its client id)"
        )
    if cert is not None and not cert.is_file():
        found.append(f"BLOCKWATCH_CLIENT_CERTIFICATE_PATH: no file at {str(cert)!r}")
    thumbprint = s.client_certificate_thumbprint.replace(":", "").replace(" ", "")
    if cert is not None and not thumbprint:
        found.append(
            "BLOCKWATCH_CLIENT_CERTIFICATE_PATH needs BLOCKWATCH_CLIENT_CERTIFICATE_THUMBPRINT"
        )
    elif thumbprint and not THUMBPRINT.fullmatch(thumbprint):
        found.append(
            "BLOCKWATCH_CLIENT_CERTIFICATE_THUMBPRINT must be the certificate's SHA-1 (40) or "
            "SHA-256 (64) thumbprint in hex, as Entra shows it"
        )
    return found


def id_list_problems(s: Settings) -> list[str]:
    found: list[str] = []
    for name, value in (
        ("VIEWER_IDS", s.viewer_ids),
        ("RESPONDER_IDS", s.responder_ids),
        ("APPROVER_IDS", s.approver_ids),
        ("VIEWER_GROUPS", s.viewer_groups),
        ("RESPONDER_GROUPS", s.responder_groups),
        ("APPROVER_GROUPS", s.approver_groups),
        ("AUTO_CONTAIN_EXCLUDE_IDS", s.auto_contain_exclude_ids),
        ("AUTO_CONTAIN_EXCLUDE_GROUPS", s.auto_contain_exclude_groups),
    ):
        wrong = [i.strip() for i in value.split(",") if i.strip() and not GUID.fullmatch(i.strip())]
        if wrong:
            found.append(
                f"{name} takes Entra object ids (GUIDs, comma-separated; Entra admin center "
                f"→ Users or Groups → Object ID), not {wrong[0]!r}"
            )
    return found


# The steps the containment policy may run: those an undo puts back, and the two that need no
# putting back (revoked sessions, a password reset that Give the account back replaces).
CONTAINMENT_STEPS = (
    "reset_password",
    "block_sign_in",
    "revoke_sessions",
    "remove_forwarding",
    "disable_rules",
)


def containment_problems(s: Settings) -> list[str]:
    """AUTO_CONTAIN_STEPS names steps the policy may run (at least one)."""
    wrong = [n for n in s.auto_contain_step_names if n not in CONTAINMENT_STEPS]
    if wrong:
        return [
            f"AUTO_CONTAIN_STEPS: {wrong[0]!r} is not a step the policy may run; it runs "
            f"{', '.join(CONTAINMENT_STEPS)} (the others need a human)"
        ]
    if not s.auto_contain_step_names:
        return ["AUTO_CONTAIN_STEPS names no step; to turn the policy off, set AUTO_CONTAIN=off"]
    return []


def ca_problems(s: Settings) -> list[str]:
    found: list[str] = []
    for name, path in (
        ("SSL_CERT_FILE", s.ssl_cert_file),
        ("REQUESTS_CA_BUNDLE", s.requests_ca_bundle),
    ):
        if not path:
            continue
        if not Path(path).is_file():
            found.append(f"{name}: no file at {path!r}")
            continue
        try:
            ssl.create_default_context(cafile=path)
        except (ssl.SSLError, OSError, ValueError) as err:
            found.append(f"{name}: {path!r} is not a PEM CA bundle ({err})")
    return found


def bot_identity_problems(s: Settings) -> list[str]:
    if not s.app_id:
        return []
    found: list[str] = []
    if not GUID.fullmatch(s.app_id):
        found.append(
            f"MicrosoftAppId must be the Azure Bot's Microsoft App ID, a GUID; got {s.app_id!r}"
        )
    if s.app_type is None:
        found.append("MicrosoftAppId needs MicrosoftAppType (SingleTenant or UserAssignedMSI)")
    if not s.app_tenant_id:
        found.append("MicrosoftAppId needs MicrosoftAppTenantId")
    elif not GUID.fullmatch(s.app_tenant_id):
        found.append(
            "MicrosoftAppTenantId must be the directory (tenant) id of the bot's app, a "
            f"GUID; got {s.app_tenant_id!r}"
        )
    password = s.app_password.get_secret_value()
    if s.app_type is AppType.SINGLE_TENANT and not password:
        found.append("MicrosoftAppType=SingleTenant needs MicrosoftAppPassword")
    if s.app_type is AppType.USER_ASSIGNED_MSI and password:
        found.append("MicrosoftAppType=UserAssignedMSI takes no MicrosoftAppPassword")
    return found


def all_problems(s: Settings) -> list[str]:
    """Every reason this combination of settings cannot run (any command)."""
    found = tenant_problems(s)
    for name, url in (
        ("AUTHORITY_URL", s.authority_url),
        ("GRAPH_BASE_URL", s.graph_base_url),
        ("EXCHANGE_BASE_URL", s.exchange_base_url),
        ("BOTFRAMEWORK_OPENID_METADATA_URL", s.botframework_openid_url),
    ):
        if not url.startswith(("https://", "http://")):
            found.append(f"{name} must be an http(s) URL, got {url!r}")
    found.extend(bot_identity_problems(s))
    found.extend(id_list_problems(s))
    found.extend(containment_problems(s))
    found.extend(ca_problems(s))
    if s.database_url and (problem := check_url(s.database_url)):
        found.append(problem)
    return found


def serve_problems(s: Settings) -> list[str]:
    """Why `serve` must not listen with these settings (see `Settings.serve_problems`)."""
    if s.inbound_auth:
        return []
    if not is_loopback(s.bind_host):
        return [
            f"refusing to listen on {s.bind_host} with inbound authentication off: set "
            "MicrosoftAppId (with MicrosoftAppType and MicrosoftAppTenantId), or "
            "HOST=127.0.0.1"
        ]
    if s.demo or s.dangerously_allow_unauthenticated:
        return []
    return [
        "refusing to serve a real tenant with inbound authentication off: set "
        "MicrosoftAppId, MicrosoftAppType and MicrosoftAppTenantId, or for a local trial "
        "on loopback DANGEROUSLY_ALLOW_UNAUTHENTICATED=true"
    ]
