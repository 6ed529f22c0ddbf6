"""The Teams app package validates with Microsoft's offline validator (@microsoft/app-manifest)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VALIDATOR = ROOT / ".tools" / "node_modules" / "@microsoft" / "app-manifest"
BOT_ID = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"

sys.path.insert(0, str(ROOT / "manifest"))
import build  # noqa: E402


def _validate(manifest: dict[str, object], tmp_path: Path) -> list[str]:
    if not VALIDATOR.exists() or shutil.which("node") is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI must validate the manifest: run ./scripts/node-tools")
        pytest.skip("@microsoft/app-manifest not installed (./scripts/node-tools)")
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest), encoding="utf-8")
    result = subprocess.run(
        ["node", str(ROOT / "manifest" / "validate.mjs"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    errors: list[str] = json.loads(result.stdout)
    assert result.returncode == (1 if errors else 0), result.stderr
    return errors


def test_manifest_is_valid(tmp_path: Path) -> None:
    assert _validate(build.manifest_for(BOT_ID), tmp_path) == []


def test_validator_catches_a_broken_manifest(tmp_path: Path) -> None:
    broken = build.manifest_for(BOT_ID)
    del broken["accentColor"]
    broken["bots"][0]["scopes"] = ["everywhere"]  # type: ignore[index]
    errors = _validate(broken, tmp_path)
    assert any("accentColor" in e for e in errors)
    assert any("scopes" in e for e in errors)


def test_package_holds_manifest_and_icons(tmp_path: Path) -> None:
    out = build.build(BOT_ID, tmp_path / "app.zip")
    with zipfile.ZipFile(out) as package:
        assert sorted(package.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(package.read("manifest.json"))
        color = package.read("color.png")
        outline = package.read("outline.png")
    assert manifest["id"] == manifest["bots"][0]["botId"] == BOT_ID
    assert "${{" not in json.dumps(manifest)
    assert _png_size(color) == (192, 192)
    assert _png_size(outline) == (32, 32)


def test_bot_id_must_be_a_guid(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="GUID"):
        build.build("not-a-guid", tmp_path / "app.zip")


def test_command_list_matches_what_the_bot_understands() -> None:
    from bot.chat.registry import match

    commands = build.manifest_for(BOT_ID)["bots"][0]["commandLists"][0]["commands"]  # type: ignore[index]
    for command in commands:
        assert match(command["title"]) is not None, command["title"]


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
