"""docs/architecture.md stays true: imports point downward only, and modules stay small."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "nudgenet"
MAX_LINES = 400
FACADE = "nudgenet"  # the package's __init__: the public names, above every layer


def documented_layers() -> dict[str, int]:
    """Unit name -> its row in the layer list of docs/architecture.md (0 is the top row)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = text.split("<!-- layers -->", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    rows = {}
    for row, line in enumerate(block.strip().splitlines()):
        names = line.split("  ", 1)[0].split()  # names, then two spaces and a description
        rows.update((name, row) for name in names)
    return rows


def unit_of(module: str) -> str:
    """``nudgenet.nn.layers`` -> ``nn``; the package itself is the facade."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else FACADE


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every nudgenet module ``path`` imports, at the top or inside a function."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == FACADE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != FACADE:
                continue
            if target == FACADE:  # from nudgenet import data: the submodule, where it is one
                for alias in node.names:
                    is_module = (PACKAGE / alias.name).is_dir() or (
                        PACKAGE / f"{alias.name}.py"
                    ).exists()
                    found.add(f"{FACADE}.{alias.name}" if is_module else FACADE)
            else:
                found.add(target)
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_unit_has_a_row_in_the_document():
    rows = documented_layers()
    units = {unit_of(module_name(p)) for p in SOURCES} - {FACADE}
    assert units - set(rows) == set(), "add these modules to docs/architecture.md's layers"
    assert set(rows) - units == set(), "docs/architecture.md names modules that do not exist"


def upward_imports(path: Path, rows: dict[str, int]) -> list[str]:
    """The nudgenet modules ``path`` imports from rows above its own (the public facade counts
    as above every row but the top one)."""
    unit = unit_of(module_name(path))
    if unit == FACADE:
        return []
    return sorted(
        target
        for target in imported_modules(path)
        if unit_of(target) == FACADE and rows[unit] != 0
        or unit_of(target) != FACADE and rows[unit_of(target)] < rows[unit]
    )


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_imports_point_downward(path):
    upward = upward_imports(path, documented_layers())
    assert upward == [], f"{module_name(path)} imports from above its row: {upward}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_modules_stay_small(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines; split it by job"


def test_the_import_check_can_fail(tmp_path, monkeypatch):
    """A low module importing a high one, or the facade, is caught (the check is not vacuous)."""
    probe = tmp_path / "nudgenet" / "tensor.py"
    probe.parent.mkdir()
    source = (PACKAGE / "tensor.py").read_text(encoding="utf-8")
    probe.write_text(source + "\nfrom .train import fit\nimport nudgenet\n", encoding="utf-8")
    monkeypatch.setattr(f"{__name__}.PACKAGE", tmp_path / "nudgenet")
    assert upward_imports(probe, documented_layers()) == ["nudgenet", "nudgenet.train"]
