"""ARCHITECTURE.md stays true: its tree is the folder tree, and the layers import what it says."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from tests.helpers import ROOT

DOC = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
PACKAGES = ("bot", "cards")


def _tree() -> set[str]:
    block = re.search(r"```\n(.*?)```", DOC, re.S)
    assert block is not None, "ARCHITECTURE.md has no tree"
    return {
        line.split()[0].rstrip("/")
        for line in block[1].splitlines()
        if line.strip() and line.split()[0].endswith("/")
    }


def _folders() -> set[str]:
    found = set()
    found.add("cards")
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_dir() and "__pycache__" not in path.parts:
                found.add(path.relative_to(ROOT).as_posix())
    return found


def test_the_tree_names_every_folder_and_only_folders_that_exist() -> None:
    assert _tree() == _folders()


def _imports(folder: str) -> dict[str, set[str]]:
    """Module path → top-level names it imports (absolute imports)."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / folder).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[path.relative_to(ROOT).as_posix()] = names
    return found


def _offenders(folder: str, banned: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in _imports(folder).items()
        for name in names
        if name.split(".")[0] in banned or any(name.startswith(b + ".") for b in banned)
    )


def test_only_the_teams_package_imports_botbuilder() -> None:
    for folder in ("bot/chat", "bot/cases", "bot/alerts", "bot/tenant", "bot/store", "cards"):
        assert _offenders(folder, ("botbuilder", "botframework", "msrest")) == []


def test_chat_and_cases_know_no_http_server_and_no_sql() -> None:
    for folder in ("bot/chat", "bot/cases"):
        assert _offenders(folder, ("aiohttp", "sqlalchemy", "bot.teams")) == []


def test_cards_do_no_io() -> None:
    io = (
        "aiohttp",
        "httpx",
        "sqlalchemy",
        "botbuilder",
        "bot.store.db",
        "bot.teams",
        "bot.tenant.http",
    )
    assert _offenders("cards", io) == []


def test_only_the_demo_imports_the_simulated_tenant() -> None:
    outside = [
        f
        for folder in (
            "bot/chat",
            "bot/cases",
            "bot/alerts",
            "bot/tenant",
            "bot/store",
            "bot/teams",
            "cards",
        )
        for f in _offenders(folder, ("bot.sim",))
    ]
    assert outside == []
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, app; print(sorted(m for m in sys.modules if 'sim' in m))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "bot.sim" not in imported.stdout
