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


def _validate(
    manifest: dict[str, object], tmp_path: Path, *, localization: bool = False
) -> list[str]:
    if not VALIDATOR.exists() or shutil.which("node") is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI must validate the manifest: run ./scripts/node-tools")
        pytest.skip("@microsoft/app-manifest not installed (./scripts/node-tools)")
    path = tmp_path / ("nl.json" if localization else "manifest.json")
    path.write_text(json.dumps(manifest), encoding="utf-8")
    flag = ["--localization"] if localization else []
    result = subprocess.run(
        ["node", str(ROOT / "manifest" / "validate.mjs"), *flag, str(path)],
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


def test_package_holds_manifest_icons_and_the_dutch_language_file(tmp_path: Path) -> None:
    out = build.build(BOT_ID, tmp_path / "app.zip")
    with zipfile.ZipFile(out) as package:
        names = sorted(package.namelist())
        manifest = json.loads(package.read("manifest.json"))
        dutch = json.loads(package.read("nl.json"))
        color = package.read("color.png")
        outline = package.read("outline.png")
    assert names == ["color.png", "manifest.json", "nl.json", "outline.png"]
    assert manifest["bots"][0]["botId"] == BOT_ID
    assert manifest["id"] != BOT_ID  # the Teams app's own id
    assert manifest["id"] == build.manifest_for(BOT_ID)["id"]  # the same on every build
    assert manifest["version"] == build.project_version()
    assert "webApplicationInfo" not in manifest  # no single sign-on, so none
    assert manifest["localizationInfo"]["additionalLanguages"] == [
        {"languageTag": "nl-nl", "file": "nl.json"}
    ]
    assert "${{" not in json.dumps(manifest)
    assert _validate(manifest, tmp_path) == []
    assert _validate(dutch, tmp_path, localization=True) == []
    assert _png_size(color) == (192, 192)
    assert _png_size(outline) == (32, 32)


def test_app_id_and_version_can_be_given(tmp_path: Path) -> None:
    app_id = "7d9c2a51-3e4f-4b6a-8c1d-2e3f4a5b6c7d"
    out = build.build(BOT_ID, tmp_path / "app.zip", app_id=app_id, version="2.3.4")
    with zipfile.ZipFile(out) as package:
        manifest = json.loads(package.read("manifest.json"))
    assert (manifest["id"], manifest["version"]) == (app_id, "2.3.4")
    assert build.manifest_for(BOT_ID)["id"] == build.app_id_for(BOT_ID)  # stable default
    for bad, said in (
        ({"app_id": BOT_ID}, "not the bot id"),
        ({"app_id": "nope"}, "must be a GUID"),
        ({"version": "latest"}, "must look like 1.2.3"),
    ):
        with pytest.raises(ValueError, match=said):
            build.build(BOT_ID, tmp_path / "bad.zip", **bad)


def test_the_language_file_is_validated_too(tmp_path: Path) -> None:
    dutch = json.loads((ROOT / "manifest" / "nl.json").read_text(encoding="utf-8"))
    dutch["name.short"] = 5
    dutch["not.a.key"] = "x"
    errors = _validate(dutch, tmp_path, localization=True)
    assert any("name.short" in e for e in errors)
    assert any("not.a.key" in e for e in errors)


def test_bot_id_must_be_a_guid(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="GUID"):
        build.build("not-a-guid", tmp_path / "app.zip")


def test_every_command_of_every_scope_is_one_the_bot_understands_in_both_languages() -> None:
    from bot.chat.registry import FEATURES, match

    manifest = build.manifest_for(BOT_ID)
    dutch = json.loads((ROOT / "manifest" / "nl.json").read_text(encoding="utf-8"))
    lists = manifest["bots"][0]["commandLists"]  # type: ignore[index]
    assert sorted(s for entry in lists for s in entry["scopes"]) == [
        "groupChat",
        "personal",
        "team",
    ]
    every = {c.name for feature in FEATURES for c in feature.commands}
    for number, entry in enumerate(lists):
        named = set()
        for index, command in enumerate(entry["commands"]):
            for title, lang in (
                (command["title"], "en"),
                (dutch[f"bots[0].commandLists[{number}].commands[{index}].title"], "nl"),
            ):
                found = match(title)  # what the command menu sends when nothing is added
                assert found is not None, title
                assert found[1] in (lang, "en"), (title, found[1])  # "help"/"audit" are both
                named.add(found[0].name)
        assert named == every, (entry["scopes"], every - named)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_the_command_line_takes_the_app_id_from_teams_app_id(tmp_path: Path) -> None:
    app_id = "7d9c2a51-3e4f-4b6a-8c1d-2e3f4a5b6c7d"
    out = tmp_path / "app.zip"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "manifest" / "build.py"),
            "--bot-id",
            BOT_ID,
            "--out",
            str(out),
        ],
        env={"PATH": os.environ.get("PATH", ""), "TEAMS_APP_ID": app_id},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == str(out)
    with zipfile.ZipFile(out) as package:
        assert json.loads(package.read("manifest.json"))["id"] == app_id
