"""The simulated Microsoft Entra ID: discovery document, client-credentials token endpoint,
and validation of the tokens it issued (signature, audience, expiry, roles)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

TOKEN_LIFETIME = 3600
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class AppRegistration:
    """The app BlockWatch signs in as: its credentials and the application roles granted."""

    client_id: str
    secret: str | None = None
    certificate_pem: str | None = None
    graph_roles: set[str] = field(default_factory=set)
    exchange_roles: set[str] = field(default_factory=lambda: {"Exchange.ManageAsApp"})

    def thumbprint(self) -> str | None:
        """SHA-1 thumbprint (hex) of the registered certificate."""
        if not self.certificate_pem:
            return None
        cert = x509.load_pem_x509_certificate(self.certificate_pem.encode())
        return cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - thumbprints are SHA-1


class TokenError(Exception):
    """An OAuth error answer (`error`, `error_description`)."""

    def __init__(self, code: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code, self.description, self.status = code, description, status


@dataclass
class Identity:
    """Issues and checks the simulator's access tokens."""

    tenant_id: str
    app: AppRegistration
    signing_key: str = field(default_factory=lambda: secrets.token_hex(32))
    issued: int = 0

    def issue(self, form: dict[str, str], *, resources: dict[str, str]) -> dict[str, Any]:
        """Answer a client-credentials token request (secret or certificate assertion)."""
        if form.get("grant_type") != "client_credentials":
            raise TokenError("unsupported_grant_type", "AADSTS70003: grant type not supported.")
        if form.get("client_id") != self.app.client_id:
            raise TokenError(
                "unauthorized_client",
                f"AADSTS700016: Application with identifier "
                f"'{form.get('client_id')}' was not found in the directory.",
            )
        self._check_credential(form)
        scope = form.get("scope", "").split(" ")[0]
        token = self._token_for(scope.removesuffix("/.default"), resources)
        return {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": token,
        }

    def _token_for(self, resource: str, resources: dict[str, str]) -> str:
        """A token for one of the tenant's resources, with the app's roles for it."""
        service = next((name for name, url in resources.items() if url == resource), None)
        if service is None:
            raise TokenError(
                "invalid_resource",
                f"AADSTS500011: The resource principal named {resource} was not "
                "found in the tenant.",
            )
        roles = self.app.graph_roles if service == "graph" else self.app.exchange_roles
        self.issued += 1
        return self.mint(resource, set(roles))

    def issue_managed(
        self, resource: str, client_id: str | None, *, resources: dict[str, str]
    ) -> dict[str, Any]:
        """Answer a managed-identity token request: the resource is a URL without `/.default`,
        a user-assigned identity is named by its client id (the app registration stands in for
        the identity, roles included), a system-assigned one by nothing."""
        if client_id and client_id != self.app.client_id:
            raise TokenError(
                "invalid_request",
                f"No User Assigned or Delegated Managed Identity found for specified "
                f"ClientId/ResourceId/PrincipalId ({client_id}).",
            )
        return {
            "access_token": self._token_for(resource, resources),
            "expires_on": str(int(time.time()) + TOKEN_LIFETIME),
            "expires_in": str(TOKEN_LIFETIME),
            "resource": resource,
            "token_type": "Bearer",
        }

    def mint(self, resource: str, roles: set[str]) -> str:
        """A token for `resource` with these roles: what the token endpoint issues, and the
        demo's in-process shortcut (no credential, no HTTP)."""
        now = int(time.time())
        claims = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.app.client_id)),
            "tid": self.tenant_id,
            "appid": self.app.client_id,
            "roles": sorted(roles),
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
        }
        return jwt.encode(claims, self.signing_key, algorithm="HS256")

    def roles(self, authorization: str, resource: str) -> set[str] | None:
        """The roles of a valid bearer token for `resource`, or None if it is not valid."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None
        try:
            claims = jwt.decode(token, self.signing_key, algorithms=["HS256"], audience=resource)
        except jwt.PyJWTError:
            return None
        return set(claims.get("roles") or [])

    def _check_credential(self, form: dict[str, str]) -> None:
        if "client_secret" in form:
            if not self.app.secret or not secrets.compare_digest(
                form["client_secret"], self.app.secret
            ):
                raise TokenError(
                    "invalid_client", "AADSTS7000215: Invalid client secret provided.", 401
                )
            return
        if form.get("client_assertion_type") == ASSERTION_TYPE:
            self._check_assertion(form.get("client_assertion", ""))
            return
        raise TokenError(
            "invalid_client",
            "AADSTS7000218: The request body must contain client_assertion or client_secret.",
            401,
        )

    def _check_assertion(self, assertion: str) -> None:
        if not self.app.certificate_pem:
            raise TokenError("invalid_client", "AADSTS700027: No certificate is registered.", 401)
        cert = x509.load_pem_x509_certificate(self.app.certificate_pem.encode())
        header = jwt.get_unverified_header(assertion)
        sha1 = base64.urlsafe_b64encode(bytes.fromhex(self.app.thumbprint() or "")).rstrip(b"=")
        sha256 = base64.urlsafe_b64encode(
            hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()
        ).rstrip(b"=")
        sent = {str(header.get("x5t", "")).rstrip("="), str(header.get("x5t#S256", "")).rstrip("=")}
        if not sent & {sha1.decode(), sha256.decode()}:
            raise TokenError(
                "invalid_client",
                "AADSTS700027: Client assertion contains an "
                "invalid signature: the key was not found.",
                401,
            )
        try:
            jwt.decode(
                assertion,
                cert.public_key(),  # type: ignore[arg-type]
                algorithms=["RS256", "PS256"],
                audience=None,
                options={"verify_aud": False},
            )
        except jwt.PyJWTError as err:
            raise TokenError(
                "invalid_client", f"AADSTS700027: Client assertion failed validation: {err}", 401
            ) from err
