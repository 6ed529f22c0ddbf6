"""Settings: read once from the environment and `.env` at start-up (see `.env.example`)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.teams.signing_keys import BOT_FRAMEWORK_METADATA_URL

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})
GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
DOMAIN = re.compile(
    r"(?=.{4,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
THUMBPRINT = re.compile(r"(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})")  # SHA-1 or SHA-256, hex
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# Tenant access (Graph + Exchange). The BLOCKWATCH_ names cannot be confused with the bot
# identity, which the Agents Toolkit's templates write as CLIENT_ID / CLIENT_SECRET / TENANT_ID;
# the short names of earlier releases are still read (the BLOCKWATCH_ name wins).
TENANT_SETTINGS = (
    "BLOCKWATCH_TENANT_ID",
    "BLOCKWATCH_CLIENT_ID",
    "BLOCKWATCH_CLIENT_SECRET",
    "BLOCKWATCH_CLIENT_CERTIFICATE_PATH",
    "BLOCKWATCH_CLIENT_CERTIFICATE_THUMBPRINT",
    "BLOCKWATCH_MANAGED_IDENTITY",
)


class ConfigError(Exception):
    """Configuration that cannot run; `problems` holds one readable line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Credential(StrEnum):
    """How BlockWatch proves who it is to Microsoft Entra ID for Graph and Exchange."""

    SECRET = "client secret"  # noqa: S105 - the name of a kind, not a secret
    CERTIFICATE = "certificate"
    MANAGED_IDENTITY = "managed identity"


class ManagedIdentity(StrEnum):
    """Which managed identity of the Azure resource BlockWatch runs on."""

    SYSTEM = "system"
    USER = "user"


@dataclass(frozen=True)
class TenantLogin:
    """Who BlockWatch is in the tenant and how it gets its tokens, from the tenant-access
    settings or, when those are empty, from the bot's own identity."""

    tenant_id: str
    client_id: str  # the app's id; a user-assigned identity's client id; "" for system-assigned
    credential: Credential
    secret: SecretStr = field(default_factory=lambda: SecretStr(""))
    certificate_path: Path | None = None
    thumbprint: str = ""
    borrowed_from_bot: bool = False

    def describe(self) -> str:
        """One line for doctor and the start-up banner (no secret in it)."""
        if self.credential is Credential.MANAGED_IDENTITY:
            who = (
                f"the user-assigned managed identity {self.client_id}"
                if self.client_id
                else "the system-assigned managed identity"
            )
        else:
            who = f"app {self.client_id} with a {self.credential}"
        if self.borrowed_from_bot:
            return f"{who} (the bot's own identity, MicrosoftAppId)"
        return who


class AppType(StrEnum):
    """How the bot proves its identity to the Bot Framework (Azure Bot resource type)."""

    SINGLE_TENANT = "SingleTenant"
    USER_ASSIGNED_MSI = "UserAssignedMSI"


def is_loopback(host: str) -> bool:
    """True when `host` only accepts connections from this machine."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _alias(*names: str) -> Any:
    return Field(validation_alias=AliasChoices(*names))


class Settings(BaseSettings):
    """Every setting BlockWatch reads; the bot identity names are those of Microsoft's samples
    and the Agents Toolkit."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    host: Annotated[str | None, _alias("HOST")] = None
    port: Annotated[int, _alias("PORT"), Field(ge=1, le=65535)] = 3978

    # Bot identity (Azure Bot resource), names as in Microsoft's samples and Agents Toolkit.
    app_id: Annotated[str, _alias("MicrosoftAppId")] = ""
    app_password: Annotated[SecretStr, _alias("MicrosoftAppPassword")] = SecretStr("")
    app_type: Annotated[AppType | None, _alias("MicrosoftAppType")] = None
    app_tenant_id: Annotated[str, _alias("MicrosoftAppTenantId")] = ""
    # Where the Bot Framework publishes its token signing keys (tests point it at a local server).
    botframework_openid_url: Annotated[str, _alias("BOTFRAMEWORK_OPENID_METADATA_URL")] = (
        BOT_FRAMEWORK_METADATA_URL
    )
    # Serve a real tenant on loopback without inbound authentication (local trials with the
    # Agents Playground, multi-process tests). Never honoured on any other address.
    dangerously_allow_unauthenticated: Annotated[
        bool, _alias("DANGEROUSLY_ALLOW_UNAUTHENTICATED")
    ] = False

    # Tenant access (app-only Graph + Exchange Online); see TENANT_SETTINGS for the names.
    tenant_id: Annotated[str, _alias("BLOCKWATCH_TENANT_ID", "TENANT_ID")] = ""
    client_id: Annotated[str, _alias("BLOCKWATCH_CLIENT_ID", "CLIENT_ID")] = ""
    client_secret: Annotated[SecretStr, _alias("BLOCKWATCH_CLIENT_SECRET", "CLIENT_SECRET")] = (
        SecretStr("")
    )
    client_certificate_path: Annotated[
        Path | None, _alias("BLOCKWATCH_CLIENT_CERTIFICATE_PATH", "CLIENT_CERTIFICATE_PATH")
    ] = None
    client_certificate_thumbprint: Annotated[
        str, _alias("BLOCKWATCH_CLIENT_CERTIFICATE_THUMBPRINT", "CLIENT_CERTIFICATE_THUMBPRINT")
    ] = ""
    managed_identity: Annotated[ManagedIdentity | None, _alias("BLOCKWATCH_MANAGED_IDENTITY")] = (
        None
    )
    # The simulated tenant even with a bot identity set (try the Azure Bot and Teams first).
    demo_forced: Annotated[bool, _alias("DEMO")] = False
    authority_url: Annotated[str, _alias("AUTHORITY_URL")] = "https://login.microsoftonline.com"
    graph_base_url: Annotated[str, _alias("GRAPH_BASE_URL")] = "https://graph.microsoft.com"
    exchange_base_url: Annotated[str, _alias("EXCHANGE_BASE_URL")] = "https://outlook.office365.com"

    # TLS trust for outbound calls (inspecting proxies, private CAs): the standard variables.
    ssl_cert_file: Annotated[str, _alias("SSL_CERT_FILE")] = ""
    requests_ca_bundle: Annotated[str, _alias("REQUESTS_CA_BUNDLE")] = ""

    # Demo mode.
    demo_scenario: Annotated[str, _alias("DEMO_SCENARIO")] = "contoso"
    # Demo runs start from their scenario unless asked to keep the previous run's cases.
    demo_keep_state: Annotated[bool, _alias("DEMO_KEEP_STATE")] = False
    data_dir: Annotated[Path, _alias("DATA_DIR")] = Path("data")

    # State.
    database_url: Annotated[str, _alias("DATABASE_URL")] = ""
    audit_retention_days: Annotated[int, _alias("AUDIT_RETENTION_DAYS"), Field(ge=30)] = 400
    shutdown_grace_seconds: Annotated[float, _alias("SHUTDOWN_GRACE_SECONDS"), Field(ge=0)] = 20
    runner_lease_seconds: Annotated[float, _alias("RUNNER_LEASE_SECONDS"), Field(ge=1)] = 30

    # Cases.
    require_second_approver: Annotated[bool, _alias("REQUIRE_SECOND_APPROVER")] = False
    follow_up_seconds: Annotated[float, _alias("FOLLOW_UP_SECONDS"), Field(gt=0)] = 300
    approval_expiry_seconds: Annotated[float, _alias("APPROVAL_EXPIRY_SECONDS"), Field(ge=60)] = (
        24 * 3600
    )
    evidence_retry_seconds: Annotated[
        float, _alias("EVIDENCE_RETRY_SECONDS"), Field(gt=0, le=600)
    ] = 30
    internal_domains: Annotated[str, _alias("INTERNAL_DOMAINS")] = ""

    # Who may do what (comma-separated Entra object ids; see bot/chat/access.py).
    viewer_ids: Annotated[str, _alias("VIEWER_IDS")] = ""
    responder_ids: Annotated[str, _alias("RESPONDER_IDS")] = ""
    approver_ids: Annotated[str, _alias("APPROVER_IDS")] = ""
    # ... or Entra security group object ids (nested membership counts; read through Graph).
    viewer_groups: Annotated[str, _alias("VIEWER_GROUPS")] = ""
    responder_groups: Annotated[str, _alias("RESPONDER_GROUPS")] = ""
    approver_groups: Annotated[str, _alias("APPROVER_GROUPS")] = ""
    role_cache_seconds: Annotated[float, _alias("ROLE_CACHE_SECONDS"), Field(ge=0, le=3600)] = 300
    commands_per_minute: Annotated[int, _alias("COMMANDS_PER_MINUTE"), Field(ge=1)] = 30

    # Alerts.
    alert_poll_seconds: Annotated[float, _alias("ALERT_POLL_SECONDS"), Field(ge=1)] = 60
    alert_digest_threshold: Annotated[int, _alias("ALERT_DIGEST_THRESHOLD"), Field(ge=1)] = 10
    demo_restrict_after_seconds: Annotated[
        float, _alias("DEMO_RESTRICT_AFTER_SECONDS"), Field(ge=0)
    ] = 60

    # Automatic containment (README "Automatic containment").
    auto_contain: Annotated[Literal["off", "dry-run", "on"], _alias("AUTO_CONTAIN")] = "off"
    auto_contain_steps: Annotated[str, _alias("AUTO_CONTAIN_STEPS")] = (
        "revoke_sessions,remove_forwarding,disable_rules,block_sign_in"
    )
    auto_contain_exclude_ids: Annotated[str, _alias("AUTO_CONTAIN_EXCLUDE_IDS")] = ""
    auto_contain_exclude_groups: Annotated[str, _alias("AUTO_CONTAIN_EXCLUDE_GROUPS")] = ""

    # Behaviour.
    log_level: Annotated[LogLevel, _alias("LOG_LEVEL")] = "INFO"
    list_fresh_seconds: Annotated[float, _alias("LIST_FRESH_SECONDS"), Field(ge=0, le=3600)] = 30.0
    investigations_at_once: Annotated[int, _alias("INVESTIGATIONS_AT_ONCE"), Field(ge=1, le=32)] = 4
    tenant_deadline_seconds: Annotated[
        float, _alias("TENANT_DEADLINE_SECONDS"), Field(ge=1, le=600)
    ] = 60.0
    card_budget_bytes: Annotated[int, _alias("CARD_BUDGET_BYTES"), Field(ge=4000, le=40000)] = 38000

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("auto_contain", mode="before")
    @classmethod
    def _mode_in_lower_case(cls, value: Any) -> Any:
        return value.strip().lower().replace("_", "-") if isinstance(value, str) else value

    @field_validator("managed_identity", mode="before")
    @classmethod
    def _identity_in_lower_case(cls, value: Any) -> Any:
        return (value.strip().lower() or None) if isinstance(value, str) else value

    @property
    def demo(self) -> bool:
        """Demo mode: DEMO=true, or neither a tenant-access setting nor a bot identity (whose
        app registration would otherwise serve for the tenant too)."""
        return self.demo_forced or not (self._tenant_settings_given() or self.app_id)

    @property
    def tenant_login(self) -> TenantLogin | None:
        """How to reach the real tenant (None in demo mode)."""
        if self.demo:
            return None
        if not self._tenant_settings_given():
            return self._bot_login()
        if self.managed_identity is not None:
            return TenantLogin(self.tenant_id, self.client_id, Credential.MANAGED_IDENTITY)
        if self.client_certificate_path is not None:
            return TenantLogin(
                self.tenant_id,
                self.client_id,
                Credential.CERTIFICATE,
                certificate_path=self.client_certificate_path,
                thumbprint=self.client_certificate_thumbprint,
            )
        return TenantLogin(
            self.tenant_id, self.client_id, Credential.SECRET, secret=self.client_secret
        )

    def _bot_login(self) -> TenantLogin:
        """The bot's app registration (or its user-assigned managed identity) for the tenant."""
        if self.app_type is AppType.USER_ASSIGNED_MSI:
            return TenantLogin(
                self.app_tenant_id,
                self.app_id,
                Credential.MANAGED_IDENTITY,
                borrowed_from_bot=True,
            )
        return TenantLogin(
            self.app_tenant_id,
            self.app_id,
            Credential.SECRET,
            secret=self.app_password,
            borrowed_from_bot=True,
        )

    def _tenant_settings_given(self) -> list[str]:
        values = (
            self.tenant_id,
            self.client_id,
            self.client_secret.get_secret_value(),
            self.client_certificate_path,
            self.client_certificate_thumbprint,
            self.managed_identity,
        )
        return [name for name, value in zip(TENANT_SETTINGS, values, strict=True) if value]

    @property
    def bind_host(self) -> str:
        """The address to listen on: loopback in demo mode unless HOST says otherwise."""
        if self.host:
            return self.host
        return "127.0.0.1" if self.demo else "0.0.0.0"  # noqa: S104 - containers need it

    @property
    def inbound_auth(self) -> bool:
        """Whether /api/messages checks Bot Framework tokens (it does whenever an app id is set)."""
        return bool(self.app_id)

    @property
    def database(self) -> str:
        """DATABASE_URL, or SQLite in DATA_DIR (in demo mode a file per scenario)."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.demo_database or self.data_dir / 'blockwatch.db'}"

    @property
    def demo_database(self) -> Path | None:
        """The demo's SQLite file (None outside demo mode or with DATABASE_URL)."""
        if not self.demo or self.database_url:
            return None
        scenario = Path(self.demo_scenario).stem
        return self.data_dir / f"demo-{re.sub(r'[^A-Za-z0-9_-]', '_', scenario)}.db"

    @property
    def domains(self) -> frozenset[str]:
        """INTERNAL_DOMAINS as a set (mail to anything else counts as external)."""
        return frozenset(d.strip().lower() for d in self.internal_domains.split(",") if d.strip())

    @property
    def auto_contain_step_names(self) -> tuple[str, ...]:
        """AUTO_CONTAIN_STEPS as step names, in checklist order, each once."""
        return _items(self.auto_contain_steps)

    @property
    def auto_contain_exclude_id_set(self) -> frozenset[str]:
        """AUTO_CONTAIN_EXCLUDE_IDS, lower case."""
        return frozenset(_items(self.auto_contain_exclude_ids))

    @property
    def auto_contain_exclude_group_set(self) -> frozenset[str]:
        """AUTO_CONTAIN_EXCLUDE_GROUPS, lower case."""
        return frozenset(_items(self.auto_contain_exclude_groups))

    @property
    def ca_bundle(self) -> str | None:
        """The CA bundle outbound TLS should trust instead of the system store, if any."""
        return self.ssl_cert_file or self.requests_ca_bundle or None

    @model_validator(mode="after")
    def _check_combination(self) -> Settings:
        problems = self.problems()
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def problems(self) -> list[str]:
        """Every reason this combination of settings cannot run (any command)."""
        from bot.settings_checks import all_problems

        return all_problems(self)

    def serve_problems(self) -> list[str]:
        """Why `serve` must not listen with these settings (the other commands listen on
        nothing, so they may run): no inbound authentication on anything but loopback, and a
        real tenant with it off only with the explicit opt-in."""
        from bot.settings_checks import serve_problems

        return serve_problems(self)


def _items(value: str) -> tuple[str, ...]:
    """A comma-separated setting as its items (trimmed, lower case, each once)."""
    return tuple(dict.fromkeys(i.strip().lower() for i in value.split(",") if i.strip()))


def load_settings(**overrides: Any) -> Settings:
    """Read Settings, turning every validation error into one readable line."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        raise ConfigError(_readable(err)) from None


def _readable(err: ValidationError) -> list[str]:
    lines: list[str] = []
    for item in err.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        message = str(item["msg"]).removeprefix("Value error, ")
        if where:
            lines.append(f"{_env_name(where)}: {message}")
        else:
            lines.extend(message.splitlines())
    return lines


def _env_name(field_name: str) -> str:
    field = Settings.model_fields.get(field_name)
    alias = field.validation_alias if field else None
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return field_name
