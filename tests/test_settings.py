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


def test_demo_refuses_non_loopback_bind_with_auth_off() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(HOST="0.0.0.0")
    assert caught.value.problems == [
        "refusing to listen on 0.0.0.0 with inbound authentication off: set MicrosoftAppId "
        "(with MicrosoftAppType and MicrosoftAppTenantId), or bind to 127.0.0.1"
    ]


def test_real_tenant_without_bot_identity_defaults_to_all_interfaces_and_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(TENANT_ID="t", CLIENT_ID="c", CLIENT_SECRET="s")
    assert any("refusing to listen on 0.0.0.0" in p for p in caught.value.problems)


def test_real_tenant_without_auth_may_run_doctor_but_not_serve() -> None:
    settings = load_settings(TENANT_ID="t", CLIENT_ID="c", CLIENT_SECRET="s", HOST="127.0.0.1")
    assert settings.demo is False
    assert settings.inbound_auth is False
    assert settings.serve_problems() == [
        "refusing to serve a real tenant with inbound authentication off: set MicrosoftAppId, "
        "MicrosoftAppType and MicrosoftAppTenantId (auth off is only for demo mode on loopback)"
    ]
    assert load_settings().serve_problems() == []  # the demo on loopback may run auth off
    trial = {"TENANT_ID": "t", "CLIENT_ID": "c", "CLIENT_SECRET": "s"}
    opted_in = load_settings(HOST="127.0.0.1", DANGEROUSLY_ALLOW_UNAUTHENTICATED="true", **trial)
    assert opted_in.serve_problems() == []
    with pytest.raises(ConfigError):  # the opt-in never opens a non-loopback address
        load_settings(HOST="0.0.0.0", DANGEROUSLY_ALLOW_UNAUTHENTICATED="true", **trial)


def test_app_refuses_to_serve_a_real_tenant_with_auth_off(tmp_path: Path) -> None:
    env = {"TENANT_ID": "t", "CLIENT_ID": "c", "CLIENT_SECRET": "s", "HOST": "127.0.0.1"}
    result = run_app(tmp_path, env, "serve")
    assert result.returncode == 2
    assert "refusing to serve a real tenant with inbound authentication off" in result.stderr


def test_production_settings_are_accepted() -> None:
    settings = load_settings(
        TENANT_ID="t",
        CLIENT_ID="c",
        CLIENT_SECRET="s",
        MicrosoftAppId="app",
        MicrosoftAppPassword="pw",
        MicrosoftAppType="SingleTenant",
        MicrosoftAppTenantId="t",
    )
    assert settings.bind_host == "0.0.0.0"
    assert settings.inbound_auth is True
    assert "pw" not in repr(settings)
    assert "s" not in str(settings.client_secret)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"TENANT_ID": "t"}, "TENANT_ID and CLIENT_ID go together"),
        (
            {"TENANT_ID": "t", "CLIENT_ID": "c", "HOST": "::1"},
            "set exactly one of CLIENT_SECRET or CLIENT_CERTIFICATE_PATH",
        ),
        (
            {
                "TENANT_ID": "t",
                "CLIENT_ID": "c",
                "HOST": "localhost",
                "CLIENT_CERTIFICATE_PATH": "cert.pem",
            },
            "needs CLIENT_CERTIFICATE_THUMBPRINT",
        ),
        ({"GRAPH_BASE_URL": "graph.microsoft.com"}, "GRAPH_BASE_URL must be an http(s) URL"),
        ({"MicrosoftAppId": "a"}, "MicrosoftAppId needs MicrosoftAppType"),
        (
            {"MicrosoftAppId": "a", "MicrosoftAppType": "SingleTenant"},
            "MicrosoftAppId needs MicrosoftAppTenantId",
        ),
        (
            {
                "MicrosoftAppId": "a",
                "MicrosoftAppType": "SingleTenant",
                "MicrosoftAppTenantId": "t",
            },
            "SingleTenant needs MicrosoftAppPassword",
        ),
        (
            {"MicrosoftAppId": "a", "MicrosoftAppType": "MultiTenant"},
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
