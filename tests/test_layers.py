"""The layers are enforced, not described.

`lint-imports` (run by `.ci/run`) checks the import-linter contracts in `pyproject.toml`.
These tests check what the contracts leave out, from the same layer list:
- a type-only import (``if TYPE_CHECKING:``) never points up a layer;
- a function-local import appears only for an optional dependency, with a comment saying
  why (``# optional: ...``), so no cycle hides inside a function body;
- at most 8 modules sit directly in ``vtalab/``.
They read the installed package's source, wherever it is installed.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

import vtalab

PACKAGE = Path(vtalab.__file__).resolve().parent
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def _layers() -> list[str]:
    """The contract's layers, lowest first (``vtalab.core`` … ``vtalab.cli``)."""
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [name.strip("()") for name in reversed(contract["layers"])]


LAYERS = _layers()


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def _layer_of(module: str) -> int | None:
    for i, layer in enumerate(LAYERS):
        if module == layer or module.startswith(layer + "."):
            return i
    return None


def _imports(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, bool, bool]]:
    """Every import with (under TYPE_CHECKING?, inside a function?)."""
    out: list[tuple[ast.Import | ast.ImportFrom, bool, bool]] = []

    def walk(node: ast.AST, type_only: bool, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                walk(child, True, in_function)
            elif isinstance(child, ast.Import | ast.ImportFrom):
                out.append((child, type_only, in_function))
            else:
                walk(child, type_only,
                     in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

    walk(tree, False, False)
    return out


def _targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.module is None:
        return []
    return [node.module] + [f"{node.module}.{a.name}" for a in node.names]


def test_the_layer_list_covers_every_package() -> None:
    packages = sorted(p.name for p in PACKAGE.iterdir()
                      if p.is_dir() and (p / "__init__.py").exists())
    assert sorted(layer.split(".")[1] for layer in LAYERS if (PACKAGE / layer.split(".")[1]
                                                             ).exists()) == packages


def test_type_only_imports_never_point_up_a_layer() -> None:
    upward = []
    for module, path in _modules():
        mine = _layer_of(module)
        if mine is None:
            continue
        for node, type_only, _ in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if not type_only:
                continue
            for target in _targets(node):
                theirs = _layer_of(target)
                if theirs is not None and theirs > mine:
                    upward.append(f"{module} (line {node.lineno}) -> {target}")
    assert not upward, "type-only imports pointing up a layer:\n" + "\n".join(upward)


def test_function_local_imports_only_for_commented_optional_dependencies() -> None:
    bad = []
    for module, path in _modules():
        lines = path.read_text(encoding="utf-8").splitlines()
        for node, type_only, in_function in _imports(ast.parse("\n".join(lines))):
            if not in_function or type_only:
                continue
            line = lines[node.lineno - 1]
            internal = any(t == "vtalab" or t.startswith("vtalab.") for t in _targets(node))
            if internal or "# optional" not in line:
                bad.append(f"{module} line {node.lineno}: {line.strip()}")
    assert not bad, ("function-local imports (hoist them, or mark an optional dependency "
                     "with '# optional: why'):\n" + "\n".join(bad))


def test_at_most_eight_modules_directly_in_the_package() -> None:
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(flat) <= 8, flat


def test_import_contract_holds() -> None:
    """`lint-imports` itself, so a broken contract fails the suite as well as CI."""
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports not found: install the test extra (import-linter)")
    done = subprocess.run([exe, "--config", str(PYPROJECT)], capture_output=True, text=True,
                          check=False, timeout=300, cwd=PYPROJECT.parent)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
