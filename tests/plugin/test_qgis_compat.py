"""QGIS 3.22 to 4: the enum compatibility module, no unscoped QGIS enum in the shipped
code, QGIS's pyqt5_to_pyqt6 check (when installed) and the metadata's version range."""

from __future__ import annotations

import ast
import configparser
import enum
import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import PLUGIN_NAME, REPO

pytestmark = pytest.mark.qgis

SHIPPED = ["processing_algorithms", "plugin.py", "__init__.py", "lcz_qgis"]


def _compat(qgis_app):
    return importlib.import_module(f"{PLUGIN_NAME}.processing_algorithms.qgis_compat")


def test_compat_resolves_every_name_on_the_running_qgis(qgis_app):
    compat = _compat(qgis_app)
    version = compat.qgis_version()
    for name, (scoped, old) in compat.ENUMS.items():
        value = getattr(compat, name)
        current = compat.resolve(compat.enum_path(name))
        assert (type(value), value) == (type(current), current), name
        assert isinstance(value, int), name  # an enum value, not a class or a function
        if compat.SCOPED_SINCE <= version < 39900:  # both forms exist: they must agree
            assert int(compat.resolve(old)) == int(compat.resolve(scoped)), name
        if version < compat.SCOPED_SINCE:
            assert compat.enum_path(name) == old
    exported = {n for n in vars(compat) if n.isupper() and n != "ENUMS" and n != "SCOPED_SINCE"}
    assert exported == set(compat.ENUMS)
    with pytest.raises(AttributeError):
        compat.resolve("QgsProcessing.NoSuchType")


def test_name_layer_sets_force_name_where_qgis_has_it(qgis_app):
    from qgis.core import QgsProcessingContext, QgsProject

    compat = _compat(qgis_app)
    details = QgsProcessingContext.LayerDetails("file name", QgsProject.instance(), "OUTPUT")
    assert compat.name_layer(details, "LCZ map \u2013 scene") is details
    assert details.name == "LCZ map \u2013 scene"
    if compat.qgis_version() >= 34000:
        assert details.forceName is True


def _unscoped_enums(source: str, namespaces) -> list[str]:
    """``Class.Member`` accesses in ``source`` where ``Class`` is a QGIS class and
    ``Member`` an enum value reached without its enum's name (what QGIS 4 removes)."""
    found = []
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)):
            continue
        if isinstance(parents.get(node), ast.Attribute):
            continue  # Class.Enum.Member: scoped
        cls = next(
            (getattr(m, node.value.id) for m in namespaces if hasattr(m, node.value.id)), None
        )
        if not isinstance(cls, type) or not node.value.id.startswith("Q"):
            continue
        value = getattr(cls, node.attr, None)
        is_enum = isinstance(value, enum.Enum) or (
            isinstance(value, int) and type(value) not in (int, bool)
        )
        if is_enum:
            found.append(f"{node.value.id}.{node.attr} (line {node.lineno})")
    return found


def test_shipped_code_uses_no_unscoped_qgis_enum(qgis_app):
    import qgis.core
    import qgis.PyQt.QtCore
    import qgis.PyQt.QtNetwork

    namespaces = [qgis.core, qgis.PyQt.QtCore, qgis.PyQt.QtNetwork]
    # the check itself finds the old forms
    assert _unscoped_enums("QgsProcessing.TypeRaster\nQgis.Critical\n", namespaces) == [
        "QgsProcessing.TypeRaster (line 1)",
        "Qgis.Critical (line 2)",
    ]
    assert _unscoped_enums("Qgis.MessageLevel.Critical\nQgis.QGIS_VERSION_INT\n", namespaces) == []
    files = [
        p for s in SHIPPED for p in ([REPO / s] if s.endswith(".py") else (REPO / s).rglob("*.py"))
    ]
    found = {}
    for path in files:
        hits = _unscoped_enums(path.read_text(encoding="utf-8"), namespaces)
        if hits:
            found[str(path.relative_to(REPO))] = hits
    assert not found, f"use processing_algorithms/qgis_compat.py instead: {found}"


def _pyqt5to6() -> str | None:
    """The checker: $PYQT5TO6, else beside the running Python (.venv/bin, as `make lint`
    finds it, whether or not the venv is on PATH), else on PATH."""
    beside = Path(sys.executable).parent / "pyqt5to6"
    return (
        os.environ.get("PYQT5TO6")
        or (str(beside) if beside.exists() else None)
        or shutil.which("pyqt5to6")
    )


@pytest.mark.skipif(not _pyqt5to6(), reason="pyqt5to6 (pip: qgis-pyqt5to6) is not installed")
def test_pyqt5_to_pyqt6_check_reports_nothing(tmp_path):
    copy = tmp_path / "plugin"  # the checker rewrites files in place: run it on a copy
    copy.mkdir()
    for name in SHIPPED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, copy / name)
    before = {p: p.read_bytes() for p in copy.rglob("*.py")}
    done = subprocess.run([_pyqt5to6(), str(copy)], capture_output=True, text=True, cwd=tmp_path)
    changed = [str(p.relative_to(copy)) for p, data in before.items() if p.read_bytes() != data]
    output = "\n".join(
        line
        for line in (done.stdout + done.stderr).splitlines()
        if "not available for introspection" not in line  # a Qt5 QGIS: Qt names only
    )
    assert (done.returncode, changed, output) == (0, [], "")


def test_metadata_accepts_qgis_3_22_to_4():
    meta = configparser.ConfigParser()
    meta.read(REPO / "metadata.txt", encoding="utf-8")
    assert meta["general"]["qgisMinimumVersion"] == "3.22"
    assert meta["general"]["qgisMaximumVersion"] == "4.99"
