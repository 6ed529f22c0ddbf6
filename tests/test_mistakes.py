"""A new admin's typical mistakes, run as the admin runs them (`python app.py …` in a folder
with a `.env`): each gives one line naming the setting, exit code 2 and no traceback; and what
the README says works, works."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ROOT, run_app
from tests.replicas import Processes

TENANT = "5f1b6a8e-3c2d-4e7f-9a10-2b3c4d5e6f70"
CLIENT = "3c1a7b52-9d4e-4f60-8a21-6b7c8d9e0f12"
REAL = {
    "BLOCKWATCH_TENANT_ID": TENANT,
    "BLOCKWATCH_CLIENT_ID": CLIENT,
    "BLOCKWATCH_CLIENT_SECRET": "s3cret",
}


def _files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "shape.json").write_text('{"tenant": {"id": "x"}}', encoding="utf-8")
    (tmp_path / "not-a-ca.pem").write_text("hello", encoding="utf-8")
    return {
        "broken": str(tmp_path / "broken.json"),
        "shape": str(tmp_path / "shape.json"),
        "not-a-ca": str(tmp_path / "not-a-ca.pem"),
    }


MISTAKES: dict[str, tuple[dict[str, str], str]] = {
    "log level": ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL: Input should be 'DEBUG', 'INFO'"),
    "unknown scenario": (
        {"DEMO_SCENARIO": "nope"},
        "DEMO_SCENARIO: no scenario called 'nope' (built in: compromised, contoso, large",
    ),
    "missing scenario file": (
        {"DEMO_SCENARIO": "/nonexistent/scenario.json"},
        "DEMO_SCENARIO: no scenario file at '/nonexistent/scenario.json'",
    ),
    "scenario not JSON": ({"DEMO_SCENARIO": "{broken}"}, "broken.json is not valid JSON"),
    "scenario of the wrong shape": (
        {"DEMO_SCENARIO": "{shape}"},
        "shape.json is not a scenario: 'domain' is missing",
    ),
    "tenant id": (
        REAL | {"BLOCKWATCH_TENANT_ID": "not-a-guid"},
        "BLOCKWATCH_TENANT_ID must be the directory (tenant) id, a GUID, or a domain",
    ),
    "client id": (
        REAL | {"BLOCKWATCH_CLIENT_ID": "my-app"},
        "BLOCKWATCH_CLIENT_ID must be the application (client) id",
    ),
    "certificate path": (
        {
            "BLOCKWATCH_TENANT_ID": TENANT,
            "BLOCKWATCH_CLIENT_ID": CLIENT,
            "BLOCKWATCH_CLIENT_CERTIFICATE_PATH": "/nonexistent.pem",
            "BLOCKWATCH_CLIENT_CERTIFICATE_THUMBPRINT": "A" * 40,
        },
        "BLOCKWATCH_CLIENT_CERTIFICATE_PATH: no file at '/nonexistent.pem'",
    ),
    "secret without tenant": (
        {"BLOCKWATCH_CLIENT_SECRET": "s3cret"},
        "BLOCKWATCH_TENANT_ID and BLOCKWATCH_CLIENT_ID missing: BLOCKWATCH_CLIENT_SECRET set means "
        "a real tenant",
    ),
    "thumbprint": (
        {
            "BLOCKWATCH_TENANT_ID": TENANT,
            "BLOCKWATCH_CLIENT_ID": CLIENT,
            "BLOCKWATCH_CLIENT_CERTIFICATE_PATH": __file__,
            "BLOCKWATCH_CLIENT_CERTIFICATE_THUMBPRINT": "not-hex",
        },
        "BLOCKWATCH_CLIENT_CERTIFICATE_THUMBPRINT must be the certificate's SHA-1 (40) or SHA-256",
    ),
    "e-mail as a role id": (
        {"APPROVER_IDS": "alex@contoso.com"},
        "APPROVER_IDS takes Entra object ids (GUIDs",
    ),
    "bot id": (
        {
            "MicrosoftAppId": "my-bot",
            "MicrosoftAppType": "UserAssignedMSI",
            "MicrosoftAppTenantId": TENANT,
        },
        "MicrosoftAppId must be the Azure Bot's Microsoft App ID, a GUID",
    ),
    "missing CA bundle": ({"SSL_CERT_FILE": "/nonexistent/ca.pem"}, "SSL_CERT_FILE: no file at"),
    "CA bundle that is not one": (
        {"SSL_CERT_FILE": "{not-a-ca}"},
        "SSL_CERT_FILE: '{not-a-ca}' is not a PEM CA bundle",
    ),
    "database URL": ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
    "libpq's sslmode in the database URL": (
        {"DATABASE_URL": "postgresql+asyncpg://u@db.example/b?sslmode=require"},
        "DATABASE_URL: asyncpg takes ?ssl=require (or verify-full), not libpq's sslmode=",
    ),
}


# Settings are read the same way for every command; the scenario is read by serve and doctor.
CASES = [("serve", m) for m in sorted(MISTAKES)] + [
    ("doctor", m) for m in sorted(MISTAKES) if "scenario" in m or m in ("log level", "tenant id")
]


@pytest.mark.parametrize(("command", "mistake"), CASES)
def test_each_mistake_is_one_line_naming_the_setting(
    tmp_path: Path, mistake: str, command: str
) -> None:
    files = _files(tmp_path)
    env, expected = MISTAKES[mistake]
    env = {k: v.format(**files) for k, v in env.items()}
    expected = expected.format(**files)
    result = run_app(tmp_path, env, command)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # no banner before the refusal
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "BlockWatch cannot start; fix the configuration:"
    assert len(lines) == 2, lines
    assert expected in lines[1], lines[1]
    setting = expected.split(":")[0].split()[0]
    assert lines[1].startswith(f"  - {setting}") or setting in lines[1]


@pytest.mark.parametrize(
    ("days", "said"),
    [
        ("0", "--days must be 1 or more (leave it out to export everything), got 0"),
        ("-5", "--days must be 1 or more (leave it out to export everything), got -5"),
        ("week", "--days takes a whole number, got 'week'"),
    ],
)
def test_export_audit_days_must_be_a_positive_number(tmp_path: Path, days: str, said: str) -> None:
    result = run_app(tmp_path, {}, "export-audit", f"--days={days}")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert said in line


def test_the_manifest_builder_needs_a_bot_id(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "manifest" / "build.py"), "--out", str(tmp_path / "x.zip")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--bot-id is required" in result.stderr
    assert not (tmp_path / "x.zip").exists()


# ---- what the README promises ---------------------------------------------------------------


@pytest.fixture
def tenant(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The simulated tenant over TLS, as a stand-in for a real one, with its settings."""
    processes = Processes(tmp_path)
    settings = processes.start_tenant("contoso")
    yield settings
    processes.stop_all()


def test_maintenance_commands_run_with_the_readmes_real_tenant_env(
    tmp_path: Path, tenant: dict[str, str]
) -> None:
    # README "Connecting a real tenant": BLOCKWATCH_TENANT_ID, _CLIENT_ID, _CLIENT_SECRET in .env
    # (plus, for the stand-in tenant, where it is and the CA it uses), no HOST, no bot identity.
    env_file = "\n".join(f"{k}={v}" for k, v in tenant.items() if not k.startswith("SIM_"))
    (tmp_path / ".env").write_text(env_file + "\n", encoding="utf-8")
    doctor = run_app(tmp_path, {}, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert doctor.stdout.startswith(f"Checked: tenant {tenant['BLOCKWATCH_TENANT_ID']} as app ")
    assert doctor.stdout.strip().endswith("Everything required is in place.")
    migrate = run_app(tmp_path, {}, "migrate")
    assert migrate.returncode == 0, migrate.stderr
    assert migrate.stdout.startswith("database schema: empty -> ")
    export = run_app(tmp_path, {}, "export-audit", "--days", "7")
    assert export.returncode == 0, export.stderr
    assert export.stdout.splitlines()[0].startswith("time,actor_id,actor,action,")
    serve = run_app(tmp_path, {}, "serve")
    assert serve.returncode == 2
    assert "refusing to listen on 0.0.0.0 with inbound authentication off" in serve.stderr
    for result in (doctor, migrate, export, serve):
        assert tenant["BLOCKWATCH_CLIENT_SECRET"] not in result.stdout + result.stderr


def test_doctor_in_demo_mode_says_it_checked_the_simulated_tenant(tmp_path: Path) -> None:
    result = run_app(tmp_path, {}, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("Checked: the SIMULATED tenant of demo mode (scenario 'contoso')")


def _first_line(tmp_path: Path, env: dict[str, str]) -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with subprocess.Popen(
        [sys.executable, str(ROOT / "app.py")],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PORT": str(port), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            return proc.stdout.readline().strip()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_the_banner_tells_the_truth(tmp_path: Path) -> None:
    ipv6 = _first_line(tmp_path, {"HOST": "::1"})
    assert "listening on http://[::1]:" in ipv6
    assert "inbound authentication OFF" in ipv6
    with_identity = _first_line(
        tmp_path,
        {
            "DEMO": "true",
            "MicrosoftAppId": CLIENT,
            "MicrosoftAppType": "UserAssignedMSI",
            "MicrosoftAppTenantId": TENANT,
        },
    )
    assert "DEMO MODE" in with_identity
    assert "inbound authentication on" in with_identity
    assert "OFF" not in with_identity
