"""The core's layout: subpackages by concept, no import cycles, no qgis, short functions."""

from __future__ import annotations

import ast
import importlib
import re
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
# Folders that hold no tests: test data (files the tests read), and Python's cache
NOT_TESTS = {"data", "__pycache__"}


def test_test_folders_mirror_the_core_packages_and_every_package_has_one():
    core_packages = {p.name for p in CORE.iterdir() if (p / "__init__.py").is_file()}
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name not in NOT_TESTS}
    assert folders - NOT_A_PACKAGE <= core_packages, folders - NOT_A_PACKAGE - core_packages
    # and the other way round: every core package has its tests
    assert core_packages <= folders, (
        f"core packages without tests/<name>/: {core_packages - folders}"
    )
    assert not sorted(TESTS.glob("test_*.py")), "test modules belong in a package's folder"
    for folder in folders:
        assert sorted((TESTS / folder).glob("test_*.py")), f"tests/{folder} holds no tests"


# -- which modules may import a framework ---------------------------------------------------

# TensorFlow/Keras: the Keras engine (the only inference module), the model builders and
# training; onnxruntime: the ONNX engine only
FRAMEWORK_HOMES = {
    "tensorflow": {
        "lcz_qgis.models.engines.keras",
        "lcz_qgis.models.mlp",
        "lcz_qgis.models.resnet50",
        "lcz_qgis.models.fusion",
        "lcz_qgis.models.sen2lcznet",
        "lcz_qgis.models.so2sat_resnet20",
        "lcz_qgis.models.flops",
        "lcz_qgis.models.pretrained",
        "lcz_qgis.models.pretrained_import",
        "lcz_qgis.training.*",
    },
    # inference: the engine; ONNX Runtime's own quantisation tool: models/quantize.py
    "onnxruntime": {"lcz_qgis.models.engines.onnx", "lcz_qgis.models.quantize"},
}


def _framework_imports(source: str) -> set[str]:
    """The frameworks (``tensorflow`` for TensorFlow and Keras, ``onnxruntime``) that
    ``source`` imports, anywhere in it, or asks for through ``errors.require``."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            mods = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            mods = [node.module or ""]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == "require"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            mods = [str(node.args[0].value)]
        else:
            continue
        for m in mods:
            top = m.split(".")[0]
            if top in ("tensorflow", "keras", "tf_keras"):
                found.add("tensorflow")
            elif top == "onnxruntime":
                found.add("onnxruntime")
    return found


def _allowed(name: str, homes: set[str]) -> bool:
    return any(name == h or (h.endswith(".*") and name.startswith(h[:-1])) for h in homes)


def test_frameworks_are_imported_only_by_their_engines_builders_and_training():
    wrong = [
        f"{name} imports {fw}"
        for name, path in MODULES.items()
        for fw in sorted(_framework_imports(path.read_text()))
        if not _allowed(name, FRAMEWORK_HOMES[fw])
    ]
    assert not wrong, "\n".join(wrong)


def test_the_framework_import_check_finds_every_form():
    src = (
        "import numpy\nfrom . import keras\n"
        "def f():\n    import tensorflow as tf\n"
        "def g():\n    from keras.src.saving import serialization_lib\n"
        "def h():\n    ort = require('onnxruntime', 'onnxruntime', 'ONNX models')\n"
    )
    assert _framework_imports(src) == {"tensorflow", "onnxruntime"}
    assert _framework_imports("tf = require('tensorflow', 'tensorflow-cpu', 'x')\n") == {
        "tensorflow"
    }
    assert _framework_imports("from .engines import keras\nimport sklearn\n") == set()
    assert _allowed("lcz_qgis.training.epoch_loop", FRAMEWORK_HOMES["tensorflow"])
    assert not _allowed("lcz_qgis.models.modelfile", FRAMEWORK_HOMES["tensorflow"])


# -- every public name is used -------------------------------------------------------------

REPO = CORE.parent
# where a public name of the core may be used
USERS = ("lcz_qgis", "processing_algorithms", "scripts", "tests", "resources")
# Public names meant for Python users although nothing in the repository uses them; each
# must be documented (README.md, docs/). None today.
PUBLIC_API: set[str] = set()
# Dead code in modules that other changes of issue 27 are editing, to be removed (or
# used) there: name -> why it is still here. None today.
PENDING_REMOVAL: dict[str, str] = {}


def _top_level_names(tree: ast.Module) -> dict[str, tuple[int, int]]:
    """Public functions, classes and variables defined at a module's top level, with the
    lines each definition spans."""
    out = {}
    for n in tree.body:
        if isinstance(n, (*_DEFS, ast.ClassDef)):
            out[n.name] = (n.lineno, n.end_lineno)
        elif isinstance(n, (ast.Assign, ast.AnnAssign)):
            for t in n.targets if isinstance(n, ast.Assign) else [n.target]:
                if isinstance(t, ast.Name):
                    out[t.id] = (n.lineno, n.end_lineno)
    return {k: v for k, v in out.items() if not k.startswith("_")}


def _references(sources: dict[str, str]) -> set[str]:
    """The names that ``sources`` (file name -> text) use outside their own definitions.

    Python files are read through the AST: names and attributes read, names imported. A
    use inside the top-level definition of the same name in the same file (recursion)
    does not count, nor does a string (a docstring, ``__all__``, a lazy-export list).
    Other files (shell scripts, Processing models) count every word. Names are matched
    by name only, so a name used in one module covers the same name defined in another.
    """
    used = set()
    for file, text in sources.items():
        if not file.endswith(".py"):
            used |= set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
            continue
        tree = ast.parse(text)
        spans = _top_level_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Store):
                name = node.id
            elif isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Store):
                name = node.attr
            elif isinstance(node, ast.alias):
                name = node.name.rsplit(".", 1)[-1]
            else:
                continue
            first, last = spans.get(name, (0, -1))
            if not first <= node.lineno <= last:
                used.add(name)
    return used


def _public_core_names() -> dict[str, set[str]]:
    """Module or package -> its public names: each package's ``__all__`` (its lazy-export
    list) and each module's public top-level functions, classes and variables."""
    names = {}
    for name, path in MODULES.items():
        if path.name == "__init__.py":
            names[name] = set(getattr(importlib.import_module(name), "__all__", ()))
        else:
            names[name] = set(_top_level_names(ast.parse(path.read_text())))
    return names


def _user_sources() -> dict[str, str]:
    """Every Python file, shell script and Processing model of ``USERS``, by path."""
    files = (p for d in USERS for p in sorted((REPO / d).rglob("*")) if p.is_file())
    return {
        str(p.relative_to(REPO)): p.read_text(errors="replace")
        for p in files
        if p.suffix in (".py", ".sh", ".model3") and "__pycache__" not in p.parts
    }


def test_every_public_core_name_is_used_outside_its_definition():
    used = _references(_user_sources())
    public = _public_core_names()
    unused = sorted(
        f"{module}.{n}"
        for module, names in public.items()
        for n in names - used - PUBLIC_API - set(PENDING_REMOVAL)
    )
    assert not unused, "public names that nothing uses (dead code):\n" + "\n".join(unused)
    # and every exception is still needed
    exceptions = PUBLIC_API | set(PENDING_REMOVAL)
    assert exceptions <= set().union(*public.values()), "gone: " + str(
        exceptions - set().union(*public.values())
    )
    assert not exceptions & used, f"used now, no longer an exception: {exceptions & used}"


def test_the_use_check_ignores_definitions_strings_and_stores():
    sources = {
        "a.py": (
            '"""Uses nothing: helper, CONST."""\n'
            "__all__ = ['helper']\n"
            "CONST = 1\n"
            "def helper(n):\n    return helper(n - 1) if n else 0\n"
            "def caller():\n    return other.used_attr + imported\n"
            "class K:\n    def __init__(self):\n        self.stored = 1\n"
        ),
        "b.py": "from x import imported\nimport pkg.module_used\n",
        "run.sh": "python -c 'from lcz_qgis import in_script'\n",
    }
    used = _references(sources)
    assert {"other", "used_attr", "imported", "module_used", "in_script"} <= used
    assert not {"helper", "CONST", "stored", "caller", "K"} & used
    assert set(_top_level_names(ast.parse(sources["a.py"]))) == {"CONST", "helper", "caller", "K"}
    # the real check finds a name the tree never uses
    assert "lcz_qgis.common.legend" in _public_core_names()
    assert "a_name_nothing_uses" not in _references(_user_sources())
