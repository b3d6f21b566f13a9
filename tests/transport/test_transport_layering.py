"""The shared transport is the only road to Microsoft's services for the later stages: nothing after
collection imports ``auditor.collect``, and the transport imports no stage at all."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "auditor"
# package -> packages it must never import (at module level or inside a function)
FORBIDDEN = {
    "transport": ("auditor.collect", "auditor.deliver", "auditor.render", "auditor.pipeline", "auditor.schedule"),
    "deliver": ("auditor.collect", "auditor.pipeline", "auditor.schedule", "auditor.scale"),
    "schedule": ("auditor.collect",),
    "render": ("auditor.collect",),
    "history": ("auditor.collect",),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def violations(root: Path, forbidden: dict[str, tuple[str, ...]]) -> list[str]:
    out = []
    for package, banned in forbidden.items():
        base = root / package
        files = sorted(base.rglob("*.py")) if base.is_dir() else [root / f"{package}.py"]
        for path in files:
            for module in sorted(imported_modules(path)):
                if any(module == b or module.startswith(b + ".") for b in banned):
                    out.append(f"{path.relative_to(root)} imports {module}")
    return out


def test_no_later_stage_imports_collect_and_transport_imports_no_stage() -> None:
    assert violations(ROOT, FORBIDDEN) == []


def test_a_deliberate_back_edge_is_reported(tmp_path: Path) -> None:
    (tmp_path / "deliver").mkdir()
    (tmp_path / "deliver" / "channel.py").write_text(
        "def send():\n    from auditor.collect.collector import collect_tenant\n    return collect_tenant\n"
    )
    assert violations(tmp_path, {"deliver": ("auditor.collect",)}) == [
        "deliver/channel.py imports auditor.collect.collector",
        "deliver/channel.py imports auditor.collect.collector.collect_tenant",
    ]
