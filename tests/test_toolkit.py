"""The Microsoft 365 Agents Toolkit project (m365agents.yml, m365agents.local.yml, env/): it
builds the package from manifest/, every placeholder the manifest uses is filled by the
Toolkit, and what it writes for BlockWatch are settings BlockWatch reads and accepts.

The Toolkit itself needs a Microsoft 365 sign-in to provision, which no test here has: what is
checked is the project's side of the contract, and the manifest as the Toolkit's
zipAppPackage fills it, validated by Microsoft's offline validator."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.settings import AppType, Credential, load_settings
from tests.helpers import ROOT
from tests.test_manifest import _validate

PROJECTS = {"dev": ROOT / "m365agents.yml", "local": ROOT / "m365agents.local.yml"}
# Actions the Toolkit documents for these stages (aka.ms/teamsfx-actions).
KNOWN_ACTIONS = {
    "teamsApp/create",
    "aadApp/create",
    "botFramework/create",
    "teamsApp/validateManifest",
    "teamsApp/zipAppPackage",
    "teamsApp/validateAppPackage",
    "teamsApp/update",
    "teamsApp/publishAppPackage",
    "file/createOrUpdateEnvironmentFile",
}
# Variables the Toolkit itself provides (environment name, the signed-in tenant).
BUILT_IN = {"TEAMSFX_ENV", "TEAMS_APP_TENANT_ID"}
PLACEHOLDER = re.compile(r"\$\{\{([A-Z0-9_]+)\}\}")
TENANT = "5f1b6a8e-3c2d-4e7f-9a10-2b3c4d5e6f70"
BOT = "3c1a7b52-9d4e-4f60-8a21-6b7c8d9e0f12"


def _project(env: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(PROJECTS[env].read_text(encoding="utf-8"))
    return data


def _env_file(env: str) -> dict[str, str]:
    values = {}
    for line in (ROOT / "env" / f".env.{env}").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _steps(project: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for stage in ("provision", "deploy", "publish") for step in project.get(stage, [])]


def _written(project: dict[str, Any]) -> set[str]:
    """The variables the project's actions write into the environment file."""
    return {v for step in _steps(project) for v in step.get("writeToEnvironmentFile", {}).values()}


@pytest.mark.parametrize("env", sorted(PROJECTS))
def test_the_project_builds_the_package_from_manifest_folder(env: str) -> None:
    project = _project(env)
    assert project["version"] == "v1.11"
    steps = _steps(project)
    assert {step["uses"] for step in steps} <= KNOWN_ACTIONS
    for step in steps:
        for key in ("manifestPath",):
            if key in step.get("with", {}):
                assert (ROOT / step["with"][key]).is_file()
        for key in ("outputZipPath", "appPackagePath", "outputFolder"):
            if key in step.get("with", {}):
                assert step["with"][key].startswith("./manifest/build")  # git-ignored
    bot = next(s for s in steps if s["uses"] == "botFramework/create")["with"]
    assert bot["messagingEndpoint"] == "${{BOT_ENDPOINT}}/api/messages"
    assert [c["name"] for c in bot["channels"]] == ["msteams"]
    app = next(s for s in steps if s["uses"] == "aadApp/create")["with"]
    assert app["signInAudience"] == "AzureADMyOrg"  # BlockWatch refuses a multi-tenant bot


@pytest.mark.parametrize("env", sorted(PROJECTS))
def test_every_placeholder_is_filled_by_the_toolkit(env: str) -> None:
    project, values = _project(env), _env_file(env)
    known = _written(project) | set(values) | BUILT_IN
    used = set(PLACEHOLDER.findall(PROJECTS[env].read_text(encoding="utf-8")))
    for name in ("manifest.json", "nl.json"):
        used |= set(PLACEHOLDER.findall((ROOT / "manifest" / name).read_text(encoding="utf-8")))
    assert used - {"SECRET_BOT_PASSWORD"} <= known, used - known
    assert "SECRET_BOT_PASSWORD" in _written(project)  # kept in env/.env.<env>.user
    assert not any(key.startswith("SECRET_") for key in values)  # no secret committed
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert values["VERSION"] == pyproject["project"]["version"]


def test_the_manifest_as_the_toolkit_fills_it_is_valid(tmp_path: Path) -> None:
    filled = {  # what provision leaves in env/.env.dev
        **_env_file("dev"),
        "TEAMS_APP_ID": "7d2e4f61-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
        "BOT_ID": BOT,
    }
    text = PLACEHOLDER.sub(
        lambda m: filled[m.group(1)], (ROOT / "manifest" / "manifest.json").read_text("utf-8")
    )
    assert _validate(json.loads(text), tmp_path) == []


@pytest.mark.parametrize("env", sorted(PROJECTS))
def test_what_deploy_writes_is_what_blockwatch_reads(env: str, tmp_path: Path) -> None:
    (deploy,) = _project(env)["deploy"]
    assert deploy["uses"] == "file/createOrUpdateEnvironmentFile"
    target = deploy["with"]["target"]
    assert target in (".env", "./.env") or re.fullmatch(
        r"\./\.blockwatch\.\$\{\{TEAMSFX_ENV\}\}\.env", target
    )
    provided = {
        "BOT_ID": BOT,
        "SECRET_BOT_PASSWORD": "from-the-toolkit",
        "TEAMS_APP_TENANT_ID": TENANT,
    }
    settings = {
        key: PLACEHOLDER.sub(lambda m: provided[m.group(1)], str(value))
        for key, value in deploy["with"]["envs"].items()
    }
    # The Toolkit's own templates call these CLIENT_ID / CLIENT_SECRET / TENANT_ID, names
    # BlockWatch once read as its tenant-access app: this project writes the bot's names.
    assert not {"CLIENT_ID", "CLIENT_SECRET", "TENANT_ID"} & set(settings)
    loaded = load_settings(**settings)
    assert loaded.app_id == BOT
    assert loaded.app_type is AppType.SINGLE_TENANT
    assert loaded.inbound_auth
    if env == "local":  # the simulated tenant behind the real Teams client
        assert loaded.demo
    else:  # the bot's own registration reaches the tenant
        login = loaded.tenant_login
        assert login is not None
        assert (login.client_id, login.credential, login.borrowed_from_bot) == (
            BOT,
            Credential.SECRET,
            True,
        )


def test_toolkit_secrets_and_generated_files_are_ignored_by_git_and_docker() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert {"env/.env.*.user", ".blockwatch.*.env", ".env", "manifest/build/"} <= set(ignored)
    docker = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert {"env", ".blockwatch.*.env", ".env"} <= set(docker)
