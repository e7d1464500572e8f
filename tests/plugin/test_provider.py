"""The Processing provider: every algorithm registered with help and upper-case parameter
names, and loading the plugin imports no heavy framework."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.qgis


REPO = Path(__file__).resolve().parents[2]


def test_provider_and_algorithms_are_registered(qgis_app):
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("lcz")
    assert provider is not None and provider.name() == "LCZ mapping"
    ids = {a.id() for a in provider.algorithms()}
    assert {"lcz:sampledata", "lcz:trainmodel", "lcz:classifyraster"} <= ids
    # every *_algorithm.py module loaded (the provider logs and skips a broken one)
    modules = list((REPO / "processing_algorithms").glob("*_algorithm.py"))
    modules = [m for m in modules if m.name != "spec_algorithm.py"]  # the shared base class
    models = list((REPO / "resources" / "models").glob("*.model3"))
    assert len(provider.algorithms()) == len(modules) + len(models)
    for alg in provider.algorithms():
        assert alg.shortHelpString(), f"{alg.id()} has no help text"
        for p in alg.parameterDefinitions():
            if ":" in p.name():  # a graphical model's outputs are named child:output by QGIS
                continue
            assert p.name().isupper() and not p.name().split("_")[-1].isdigit(), p.name()


def test_loading_the_plugin_imports_neither_tensorflow_nor_sklearn(qgis_profile):
    plugins = qgis_profile / "profiles" / "default" / "python" / "plugins"
    code = (
        "import sys, os; os.environ['QT_QPA_PLATFORM']='offscreen';"
        "from qgis.core import QgsApplication; app=QgsApplication([], False); app.initQgis();"
        f"sys.path.insert(0, {str(plugins)!r});"
        "import lcz_mapping; p = lcz_mapping.classFactory(None); p.initProcessing();"
        "assert QgsApplication.processingRegistry().providerById('lcz');"
        "print(sorted(m for m in ('tensorflow','sklearn','keras','matplotlib') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"
