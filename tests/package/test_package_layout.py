"""The core's layout: subpackages by concept, no import cycles, no qgis, short functions."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "lcz_qgis"
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


_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _public_defs(tree: ast.Module):
    """(qualified name, node, its class or None) of the module's public functions and
    classes and the public methods of its public classes (dunders are not public)."""
    for n in tree.body:
        if isinstance(n, (*_DEFS, ast.ClassDef)) and not n.name.startswith("_"):
            yield n.name, n, None
            if isinstance(n, ast.ClassDef):
                for m in n.body:
                    if isinstance(m, _DEFS) and not m.name.startswith("_"):
                        yield f"{n.name}.{m.name}", m, n


def _imported_from(name: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    if not node.level:
        return node.module or ""
    return ".".join(here[: len(here) - node.level + 1] + ([node.module] if node.module else []))


def _docstring_gaps(modules: dict[str, tuple[str, bool]]) -> list[str]:
    """``module:line name`` of each public function, class or method of ``modules``
    (name -> (source, is a package's __init__)) without a docstring.

    A method without one passes when it overrides a method that a base class defined in
    ``modules`` documents (what ``inspect.getdoc`` shows for it); bases from elsewhere
    (Keras, the standard library) are not looked up.
    """
    trees = {name: ast.parse(src) for name, (src, _) in modules.items()}
    classes = {
        (m, n.name): n for m, t in trees.items() for n in t.body if isinstance(n, ast.ClassDef)
    }
    scope = {}  # module -> {local name: (module, name)}
    for m, tree in trees.items():
        local = {n: (mm, n) for mm, n in classes if mm == m}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                src = _imported_from(m, modules[m][1], node)
                for a in node.names:
                    local.setdefault(a.asname or a.name, (src, a.name))
        scope[m] = local

    def documented_in_base(module: str, cls: ast.ClassDef, method: str, seen=()) -> bool:
        for b in cls.bases:
            key = scope[module].get(b.id) if isinstance(b, ast.Name) else None
            base = classes.get(key)
            if base is None or key in seen:
                continue
            own = [f for f in base.body if isinstance(f, _DEFS) and f.name == method]
            if own and ast.get_docstring(own[0]):
                return True
            if documented_in_base(key[0], base, method, (*seen, key)):
                return True
        return False

    return [
        f"{m}:{node.lineno} {qual}"
        for m, tree in trees.items()
        for qual, node, cls in _public_defs(tree)
        if not ast.get_docstring(node)
        and not (cls is not None and documented_in_base(m, cls, node.name))
    ]


def test_core_public_functions_classes_and_methods_have_docstrings():
    modules = {n: (p.read_text(), p.name == "__init__.py") for n, p in MODULES.items()}
    gaps = _docstring_gaps(modules)
    assert not gaps, f"{len(gaps)} public names without a docstring:\n" + "\n".join(gaps)


def test_the_docstring_check_finds_gaps_and_lets_overrides_inherit():
    modules = {
        "pkg": ("from .a import Base as B0\n", True),
        "pkg.a": ("class Base:\n    '''Doc.'''\n    def run(self):\n        '''Doc.'''\n", False),
        "pkg.b": (
            "from . import a\nfrom .a import Base\n"
            "class Mid(Base):\n    '''Doc.'''\n    def run(self):\n        pass\n"
            "class Leaf(Mid):\n    '''Doc.'''\n    def run(self):\n        pass\n"
            "    def other(self):\n        pass\n    def _private(self):\n        pass\n"
            "class Foreign(a.Base):\n    '''Doc.'''\n    def run(self):\n        pass\n"
            "def f():\n    pass\ndef _g():\n    pass\n",
            False,
        ),
    }
    assert _docstring_gaps(modules) == [
        "pkg.b:11 Leaf.other",
        "pkg.b:17 Foreign.run",  # a base named through an attribute is not looked up
        "pkg.b:19 f",
    ]


# -- the tests mirror the packages ---------------------------------------------------------

TESTS = Path(__file__).resolve().parents[1]
# Test folders that are not a core package: the QGIS plugin itself, and the repository
# (layout, packaging).
NOT_A_PACKAGE = {"plugin", "package"}


def test_test_folders_mirror_the_core_packages_and_every_package_has_one():
    core_packages = {p.name for p in CORE.iterdir() if (p / "__init__.py").is_file()}
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders - NOT_A_PACKAGE <= core_packages, folders - NOT_A_PACKAGE - core_packages
    # and the other way round: every core package has its tests
    assert core_packages <= folders, (
        f"core packages without tests/<name>/: {core_packages - folders}"
    )
    assert not sorted(TESTS.glob("test_*.py")), "test modules belong in a package's folder"
    for folder in folders:
        assert sorted((TESTS / folder).glob("test_*.py")), f"tests/{folder} holds no tests"
