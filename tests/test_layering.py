"""Layering: the import graph of ``auditor/`` follows the pipeline and has no cycle.

``LAYERS`` lists the top-level packages (and modules) of ``auditor/`` from the bottom up. A package may
import only packages of a *lower* layer, except the few edges in ``FORBIDDEN`` — that is the whole list
of allowed edges. Every import counts:
module level, inside functions and under ``TYPE_CHECKING``. Value types sit below the stages that produce
and consume them (the snapshot below collect and model, the findings below rules, history and render).
A new package must be placed here; a back-edge fails with the modules that make it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS: tuple[tuple[str, ...], ...] = (
    ("auditor", "cli_examples", "errors", "gcpause", "terminal"),  # the package root (version) and utilities
    ("progress",),  # progress lines and the live table (prints tenant names through terminal.clean)
    ("config",),
    ("sources",),  # the catalog of data sources (names, endpoints, permissions)
    ("snapshot",),
    ("findings",),  # findings, rule outcomes, AuditResult: plain values, no model
    ("testing",),  # baseline tenant builders (raw records) for rule cases and tests
    ("transport",),  # MSAL, clouds, TLS, HTTP client: shared by collect, doctor and deliver
    ("collect",),
    ("model",),
    ("rules",),
    ("plan",),  # the per-user MFA → Conditional Access migration plan, over the model (next to the rules)
    ("engine", "waiver_report"),  # waiver_report: end-of-run notes on unused and expired waivers
    ("history",),
    ("render",),
    ("rundir",),  # a run's report folder: write check, .partial until complete, snapshot kept on failure
    ("review",),  # reviewer decisions read back from edited workbooks, carried forward; waiver drafts
    ("remediate",),  # PowerShell from a run's findings (never executed)
    ("deliver",),
    ("doctor",),
    ("sim",),
    ("demo",),
    ("pipeline",),
    ("offline",),  # --demo / --snapshot runs: no history unless --record, and then only the own tenant
    ("schedule",),
    ("scale",),
    ("cli",),
)

# Downward edges the architecture still rules out: a later stage does not reach into the collector.
FORBIDDEN: frozenset[tuple[str, str]] = frozenset({("deliver", "collect"), ("render", "collect")})

# Known back-edges that other work removes (doctor leaves collect/, deliver moves onto transport).
# Delete an entry once the edge is gone; test_pending_back_edges_still_exist says when.
PENDING: frozenset[tuple[str, str]] = frozenset({})


def _modules(root: Path) -> dict[str, Path]:
    mods = {}
    for path in (root / "auditor").rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _targets(name: str, path: Path, node: ast.AST, mods: dict[str, Path]) -> Iterator[str]:
    """What one import statement names: ``from pkg import x`` is ``pkg.x`` when that is a module, else ``pkg``."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = name.split(".")
            keep = len(base) - node.level + (1 if path.name == "__init__.py" else 0)
            prefix = ".".join(base[:keep] + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        for alias in node.names:
            candidate = f"{prefix}.{alias.name}"
            yield candidate if candidate in mods else prefix


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the ``auditor`` modules it imports anywhere in its body."""
    mods = _modules(root)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _targets(name, path, node, mods):
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name and target.startswith("auditor"):
                    graph[name].add(target)
    return graph


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def back_edges(graph: dict[str, set[str]]) -> dict[tuple[str, str], list[str]]:
    """(importer package, imported package) → the module imports that break the layering."""
    rank = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}
    out: dict[tuple[str, str], list[str]] = {}
    for module, targets in graph.items():
        for target in targets:
            a, b = _top(module), _top(target)
            if a == b or (b == "auditor" and target == "auditor"):
                continue
            if a not in rank or b not in rank or rank[b] >= rank[a] or (a, b) in FORBIDDEN:
                out.setdefault((a, b), []).append(f"{module} -> {target}")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(ROOT)


def test_no_import_cycle(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_every_package_is_placed_in_a_layer(graph: dict[str, set[str]]) -> None:
    placed = {pkg for layer in LAYERS for pkg in layer}
    assert {_top(m) for m in graph} - placed == set(), "place the new package in LAYERS"


def test_no_edge_against_the_pipeline(graph: dict[str, set[str]]) -> None:
    found = {edge: where for edge, where in back_edges(graph).items() if edge not in PENDING}
    assert found == {}


def test_pending_back_edges_still_exist(graph: dict[str, set[str]]) -> None:
    gone = PENDING - set(back_edges(graph))
    assert gone == set(), f"remove from PENDING: {sorted(gone)}"


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_check_fails_on_a_deliberate_back_edge(tmp_path: Path) -> None:
    # The cycle this project once had: config validates rule settings by importing the rules (inside a
    # function), and the rules import config.
    _write(
        tmp_path,
        {
            "auditor/__init__.py": "",
            "auditor/config.py": "def parse():\n    from auditor.rules import REGISTRY\n    return REGISTRY\n",
            "auditor/rules/__init__.py": "from auditor.rules.registry import REGISTRY\n",
            "auditor/rules/registry.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from auditor.config import Config\nREGISTRY = {}\n",
            "auditor/model/__init__.py": "from .. import config\n",
        },
    )
    graph = import_graph(tmp_path)
    assert back_edges(graph) == {("config", "rules"): ["auditor.config -> auditor.rules"]}
    assert cycles(graph) == [["auditor.config", "auditor.rules", "auditor.rules.registry"]]
    assert graph["auditor.model"] == {"auditor.config"}  # relative import resolved, forward edge allowed
