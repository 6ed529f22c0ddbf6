"""Settings: demo defaults, the loopback safety rule, and readable start-up errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import ConfigError, is_loopback, load_settings
from tests.helpers import run_app


def test_nothing_configured_is_demo_mode_on_loopback_with_auth_off() -> None:
    settings = load_settings()
    assert settings.demo is True
    assert settings.bind_host == "127.0.0.1"
    assert settings.port == 3978
    assert settings.inbound_auth is False


TENANT_GUID = "5f1b6a8e-3c2d-4e7f-9a10-2b3c4d5e6f70"
CLIENT_GUID = "3c1a7b52-9d4e-4f60-8a21-6b7c8d9e0f12"
REAL = {
    "BLOCKWATCH_TENANT_ID": TENANT_GUID,
    "BLOCKWATCH_CLIENT_ID": CLIENT_GUID,
    "BLOCKWATCH_CLIENT_SECRET": "s",
}


def test_demo_refuses_to_serve_on_a_non_loopback_address_with_auth_off() -> None:
    settings = load_settings(HOST="0.0.0.0")
    assert settings.serve_problems() == [
        "refusing to listen on 0.0.0.0 with inbound authentication off: set MicrosoftAppId "
        "(with MicrosoftAppType and MicrosoftAppTenantId), or HOST=127.0.0.1"
    ]


def test_real_tenant_without_bot_identity_defaults_to_all_interfaces_and_is_not_served() -> None:
    settings = load_settings(**REAL)  # the README's .env: doctor, migrate, export-audit run
    assert settings.bind_host == "0.0.0.0"
    assert any("refusing to listen on 0.0.0.0" in p for p in settings.serve_problems())


def test_real_tenant_without_auth_may_run_doctor_but_not_serve() -> None:
    settings = load_settings(HOST="127.0.0.1", **REAL)
    assert settings.demo is False
    assert settings.inbound_auth is False
    assert settings.serve_problems() == [
        "refusing to serve a real tenant with inbound authentication off: set MicrosoftAppId, "
        "MicrosoftAppType and MicrosoftAppTenantId, or for a local trial on loopback "
        "DANGEROUSLY_ALLOW_UNAUTHENTICATED=true"
    ]
    assert load_settings().serve_problems() == []  # the demo on loopback may run auth off
    opted_in = load_settings(HOST="127.0.0.1", DANGEROUSLY_ALLOW_UNAUTHENTICATED="true", **REAL)
    assert opted_in.serve_problems() == []
    # the opt-in never opens a non-loopback address
    wide = load_settings(HOST="0.0.0.0", DANGEROUSLY_ALLOW_UNAUTHENTICATED="true", **REAL)
    assert wide.serve_problems()[0].startswith("refusing to listen on 0.0.0.0")


def test_app_refuses_to_serve_a_real_tenant_with_auth_off(tmp_path: Path) -> None:
    result = run_app(tmp_path, {"HOST": "127.0.0.1", **REAL}, "serve")
    assert result.returncode == 2
    assert "refusing to serve a real tenant with inbound authentication off" in result.stderr
    assert "DANGEROUSLY_ALLOW_UNAUTHENTICATED=true" in result.stderr


def test_production_settings_are_accepted() -> None:
    settings = load_settings(
        **REAL,
        MicrosoftAppId=CLIENT_GUID,
        MicrosoftAppPassword="pw",
        MicrosoftAppType="SingleTenant",
        MicrosoftAppTenantId=TENANT_GUID,
    )
    assert settings.bind_host == "0.0.0.0"
    assert settings.inbound_auth is True
    assert settings.serve_problems() == []
    assert "pw" not in repr(settings)
    assert "s" not in str(settings.client_secret)


def test_a_tenant_may_be_named_by_its_domain() -> None:
    settings = load_settings(**(REAL | {"BLOCKWATCH_TENANT_ID": "contoso.onmicrosoft.com"}))
    assert settings.tenant_id == "contoso.onmicrosoft.com"


APP = {"MicrosoftAppId": CLIENT_GUID}


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        (
            {"BLOCKWATCH_TENANT_ID": TENANT_GUID},
            "BLOCKWATCH_CLIENT_ID missing: BLOCKWATCH_TENANT_ID set means a real tenant",
        ),
        (
            {
                "BLOCKWATCH_TENANT_ID": TENANT_GUID,
                "BLOCKWATCH_CLIENT_ID": CLIENT_GUID,
                "HOST": "::1",
            },
            "set exactly one of BLOCKWATCH_CLIENT_SECRET, BLOCKWATCH_CLIENT_CERTIFICATE_PATH",
        ),
        (
            {
                "BLOCKWATCH_TENANT_ID": TENANT_GUID,
                "BLOCKWATCH_CLIENT_ID": CLIENT_GUID,
                "HOST": "localhost",
                "BLOCKWATCH_CLIENT_CERTIFICATE_PATH": __file__,
            },
            "needs BLOCKWATCH_CLIENT_CERTIFICATE_THUMBPRINT",
        ),
        ({"GRAPH_BASE_URL": "graph.microsoft.com"}, "GRAPH_BASE_URL must be an http(s) URL"),
        (APP, "MicrosoftAppId needs MicrosoftAppType"),
        (APP | {"MicrosoftAppType": "SingleTenant"}, "MicrosoftAppId needs MicrosoftAppTenantId"),
        (
            APP | {"MicrosoftAppType": "SingleTenant", "MicrosoftAppTenantId": TENANT_GUID},
            "SingleTenant needs MicrosoftAppPassword",
        ),
        (
            APP | {"MicrosoftAppType": "MultiTenant"},
            "MicrosoftAppType: Input should be 'SingleTenant' or 'UserAssignedMSI'",
        ),
        ({"PORT": "eighty"}, "PORT: Input should be a valid integer"),
    ],
)
def test_each_problem_is_one_readable_line(overrides: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    assert any(problem in line for line in caught.value.problems), caught.value.problems


def test_settings_come_from_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=4000\nDEMO_SCENARIO=large\n", encoding="utf-8")
    settings = load_settings()
    assert settings.port == 4000
    assert settings.demo_scenario == "large"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.4", False),
        ("bot.contoso.com", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_app_refuses_to_start_with_one_line_per_problem(tmp_path: Path) -> None:
    result = run_app(tmp_path, {"HOST": "0.0.0.0", "PORT": "99999"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "BlockWatch cannot start; fix the configuration:"
    assert lines[1:] == ["  - PORT: Input should be less than or equal to 65535"]
