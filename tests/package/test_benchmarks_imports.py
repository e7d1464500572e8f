"""``make bench`` imports project names inside each benchmark's ``run`` and in the code
of its child processes (strings), where no test runs them: every ``from lcz_qgis...
import NAME`` and ``from benchmarks... import NAME`` there must still resolve (a renamed
private function once stopped ``make bench`` at its second benchmark)."""

from __future__ import annotations

import importlib
import importlib.util
import re

from helpers import REPO

IMPORT = re.compile(r"from ((?:lcz_qgis|benchmarks)[\w.]*) import (?:\(([\w,\s]+)\)|([\w, ]+))")


def test_every_project_import_in_the_benchmarks_resolves():
    missing, seen = [], 0
    for path in sorted((REPO / "benchmarks").glob("*.py")):
        for module, listed, names in IMPORT.findall(path.read_text()):
            mod = importlib.import_module(module)
            for name in (n.strip().split(" as ")[0] for n in (listed or names).split(",")):
                if not name:
                    continue
                seen += 1
                package = hasattr(mod, "__path__")
                if not hasattr(mod, name) and not (
                    package and importlib.util.find_spec(f"{module}.{name}")
                ):
                    missing.append(f"{path.name}: from {module} import {name}")
    assert seen > 50  # the pattern finds them
    assert not missing, missing
