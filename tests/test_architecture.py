"""ARCHITECTURE.md stays true: its tree is the folder tree, and the layers import what it says."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

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


# ---- layers, checked transitively ---------------------------------------------------------

# (layer, what it must never reach through any chain of imports). A third-party package counts
# as reached when a module on the chain imports it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bot.core", ("bot.cases", "bot.chat", "bot.store", "bot.tenant", "bot.teams", "cards")),
    (
        "bot.cases",
        ("bot.store", "bot.tenant", "bot.teams", "bot.chat", "sqlalchemy", "httpx", "aiohttp"),
    ),
    (
        "cards",
        ("bot.store", "bot.tenant", "bot.teams", "bot.chat", "sqlalchemy", "httpx", "aiohttp"),
    ),
    ("bot.chat", ("bot.tenant", "bot.teams", "botbuilder")),
)

Graph = dict[str, set[str]]


def _module_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> Graph:
    """Module → the modules it imports (absolute names; relative imports resolved)."""
    graph: Graph = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            module = _module_of(path)
            names: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:
                        anchor = module.split(".")
                        if path.name != "__init__.py":
                            anchor = anchor[:-1]
                        anchor = anchor[: len(anchor) - node.level + 1]
                        base = ".".join([*anchor, base] if base else anchor)
                    names.add(base)
                    names.update(f"{base}.{alias.name}" for alias in node.names)
            graph[module] = names
    return graph


def _inside(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def reaches(graph: Graph, start: str, banned: tuple[str, ...]) -> list[str]:
    """The import chains from `start` to anything in `banned` (the shortest to each)."""
    found: list[str] = []
    seen = {start}
    queue: list[list[str]] = [[start]]
    while queue:
        chain = queue.pop(0)
        for name in sorted(graph.get(chain[-1], ())):
            if any(_inside(name, b) for b in banned):
                found.append(" -> ".join([*chain, name]))
            elif name in graph and name not in seen:
                seen.add(name)
                queue.append([*chain, name])
    return found


def layer_violations(graph: Graph) -> list[str]:
    """Every chain by which a layer reaches what it must not."""
    return [
        chain
        for layer, banned in LAYERS
        for module in sorted(graph)
        if _inside(module, layer)
        for chain in reaches(graph, module, banned)
    ]


def test_no_layer_reaches_what_it_must_not_through_any_chain_of_imports() -> None:
    assert layer_violations(import_graph()) == []


def test_the_layer_check_catches_an_upward_import_two_modules_away() -> None:
    """A deliberately added upward import: cards -> bot.i18n -> (new) bot.store.cases. The
    check must name the chain, although cards imports nothing of bot.store itself."""
    graph = import_graph()
    assert "bot.i18n" in graph["cards.case"]
    graph["bot.i18n"] = {*graph["bot.i18n"], "bot.store.cases"}
    violations = layer_violations(graph)
    assert "cards.case -> bot.i18n -> bot.store.cases" in violations


def test_no_production_file_is_longer_than_400_lines() -> None:
    long = {
        path.relative_to(ROOT).as_posix(): lines
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "sim" not in path.relative_to(ROOT).parts
        and (lines := len(path.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}
