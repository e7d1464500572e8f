"""The core's layout: subpackages by concept, no import cycles, no qgis, short functions."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "lcz_qgis"
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(CORE.rglob("*.py")):
        parts = list(path.relative_to(CORE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Core modules that ``name`` imports, anywhere in it (lazy imports count too)."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            # "from package import module" imports the module
            targets = [
                f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names
            ]
        else:
            continue
        found |= {t for t in targets if t in MODULES and t != name}
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m) :] + [m]
            if m not in state and (c := visit(m)):
                return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_no_import_cycles_between_core_modules():
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    # a package's __init__ that re-exports its modules is not a cycle with them
    for name in graph:
        graph[name] = {m for m in graph[name] if not name.startswith(m + ".")}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_core_is_laid_out_in_subpackages_with_public_names():
    top = {p.stem for p in CORE.glob("*.py")}
    assert top <= {"__init__", "__main__", "demo", "sample_data"}, top
    for pkg in sorted(p.parent for p in CORE.glob("*/__init__.py")):
        module = importlib.import_module("lcz_qgis." + pkg.name)
        assert module.__doc__ and module.__doc__.strip(), f"{pkg.name}/__init__.py has no docstring"
        names = getattr(module, "__all__", None)
        assert names, f"lcz_qgis.{pkg.name} lists no public names (__all__)"
        for n in names:
            assert hasattr(module, n), f"lcz_qgis.{pkg.name}.__all__ names a missing {n}"


def test_core_never_imports_qgis():
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                mods = [node.module or ""]
            assert not any(m == "qgis" or m.startswith("qgis.") for m in mods), name


@pytest.mark.parametrize("name", sorted(MODULES))
def test_core_functions_are_short(name):
    tree = ast.parse(MODULES[name].read_text())
    long = [
        f"{n.name} ({n.end_lineno - n.lineno + 1} lines)"
        for n in ast.walk(tree)
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{name}: {', '.join(long)}"
