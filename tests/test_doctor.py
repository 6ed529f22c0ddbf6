"""`doctor` on a fully granted and on a half-granted simulated tenant."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from bot.doctor import Status, healthy, render, run_doctor, token_roles
from bot.sim.server import SimulatedTenant
from tests.conftest import exchange_client, graph_client

ROOT = Path(__file__).resolve().parents[1]


async def _findings(sim: SimulatedTenant, http: httpx.AsyncClient) -> dict[str, tuple[Status, str]]:
    found = await run_doctor(
        graph_client(sim, http),
        exchange_client(sim, http),
        sim.tokens(),
        graph_resource=sim.graph_url,
        exchange_resource=sim.exchange_url,
    )
    assert healthy(found) == all(f.status is Status.OK for f in found if f.required)
    return {f.capability: (f.status, f.detail) for f in found}


async def test_fully_granted_tenant_is_all_ok(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    found = await _findings(sim, http)
    assert {status for status, _ in found.values()} == {Status.OK}
    assert len(found) == 23


async def test_half_granted_tenant_names_what_to_grant(
    sim: SimulatedTenant, http: httpx.AsyncClient
) -> None:
    sim.state.app.graph_roles = {
        "User.Read.All",
        "IdentityRiskyUser.Read.All",
        "AuditLog.Read.All",
        "UserAuthenticationMethod.Read.All",
    }
    sim.state.licences = {"AAD_PREMIUM_P1"}
    sim.state.exchange_cmdlets = {"Get-BlockedSenderAddress", "Get-Mailbox", "Get-InboxRule"}
    found = await _findings(sim, http)
    assert found["List restricted senders"][0] is Status.OK
    assert found["Release restricted senders"] == (
        Status.MISSING_EXCHANGE_ROLE,
        "add the app's service principal to the BlockWatch role group with a role that "
        "includes Remove-BlockedSenderAddress (docs/permissions.md)",
    )
    assert found["Reset password"][0] is Status.MISSING_PERMISSION
    assert found["Reset password"][1].startswith(
        "User-PasswordProfile.ReadWrite.All: Entra admin center > App registrations"
    )
    assert found["Sign-in log (Entra ID P1)"][0] is Status.OK
    assert found["Risky-user state (Entra ID P2)"] == (
        Status.LICENCE_MISSING,
        "not available in this tenant: Microsoft Entra ID P2",
    )
    assert found["Disable inbox rules"][0] is Status.MISSING_EXCHANGE_ROLE
    assert found["MFA methods"][0] is Status.OK
    assert found["Defender alerts"][0] is Status.MISSING_PERMISSION


async def test_no_exchange_permission_at_all(sim: SimulatedTenant, http: httpx.AsyncClient) -> None:
    sim.state.app.exchange_roles = set()
    found = await _findings(sim, http)
    status, detail = found["List restricted senders"]
    assert status is Status.MISSING_PERMISSION
    assert "Office 365 Exchange Online > Application permissions > Exchange.ManageAsApp" in detail


def test_token_roles() -> None:
    assert token_roles("x.eyJyb2xlcyI6WyJBIiwiQiJdfQ.y") == {"A", "B"}
    assert token_roles("not a token") == set()
    assert token_roles("x.eyJub3JvbGVzIjp0cnVlfQ.y") == set()


def test_render_ends_with_a_verdict() -> None:
    from bot.doctor import Finding

    text = render([Finding("Thing", True, Status.MISSING_PERMISSION, "X: grant it")])
    assert text.splitlines()[-1] == (
        "1 required capability(ies) missing: BlockWatch cannot work yet."
    )


def _doctor(tmp_path: Path, scenario: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "DEMO_SCENARIO": scenario, **settings}
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py"), "doctor"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_doctor_on_full_demo_tenant_exits_zero(tmp_path: Path) -> None:
    result = _doctor(tmp_path, "contoso")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "Everything required is in place."
    assert "Traceback" not in result.stderr


def test_cli_doctor_on_half_granted_tenant_exits_non_zero(tmp_path: Path) -> None:
    scenario = json.loads((ROOT / "bot/sim/scenarios/contoso.json").read_text(encoding="utf-8"))
    scenario["app"] = {"graphRoles": ["User.Read.All", "AuditLog.Read.All"]}
    scenario["licences"] = []
    scenario["exchangeCmdlets"] = ["Get-BlockedSenderAddress"]
    path = tmp_path / "half.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    result = _doctor(tmp_path, str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("Release restricted senders") and "missing Exchange role" in line
        for line in lines
    )
    assert any(
        line.startswith("Sign-in log (Entra ID P1)") and "licence missing" in line for line in lines
    )
    assert lines[-1].endswith("BlockWatch cannot work yet.")


def test_the_permissions_doc_lists_what_every_evidence_section_needs() -> None:
    from bot.doctor import section_permissions_table
    from tests.helpers import ROOT

    doc = (ROOT / "docs" / "permissions.md").read_text(encoding="utf-8")
    block = doc.split("<!-- sections:begin -->\n", 1)[1].split("<!-- sections:end -->", 1)[0]
    assert block == section_permissions_table()


def test_doctor_shows_the_containment_policy_and_warns_about_its_exclusions(
    tmp_path: Path,
) -> None:
    nobody = "0badc0de-0000-4000-8000-000000000000"
    executives = "5e1ec7ed-0000-4000-8000-00000000e7ec"  # a group of the compromised scenario
    result = _doctor(
        tmp_path,
        "compromised",
        AUTO_CONTAIN="on",
        AUTO_CONTAIN_EXCLUDE_IDS=nobody,
        AUTO_CONTAIN_EXCLUDE_GROUPS=executives,
    )
    assert result.returncode == 0, result.stdout + result.stderr  # warnings never fail it
    lines = result.stdout.splitlines()
    policy = next(line for line in lines if line.startswith("Automatic containment"))
    assert "OK" in policy
    assert "on (AUTO_CONTAIN); never touches 1 user(s), 1 group(s)" in policy
    excluded = [line for line in lines if line.startswith("Excluded")]
    assert len(excluded) == 1
    assert "warning" in excluded[0]
    assert f"{nobody} does not exist in this tenant" in excluded[0]
    bare = _doctor(tmp_path, "compromised", AUTO_CONTAIN="on").stdout.splitlines()
    policy = next(line for line in bare if line.startswith("Automatic containment"))
    assert "warning" in policy
    assert "nothing is excluded" in policy
