"""Give every step of the shipped graphical models (resources/models/*.model3) a value for
each required parameter its algorithm has gained since (its declared default), keeping
everything else, so the models still validate in the Model Designer
(tests/plugin/test_graphical_models.py says when this is needed).

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/complete_models.py
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def start_qgis() -> tuple:
    """QGIS offscreen, Processing and the plugin's provider (the repo as ``lcz_mapping``)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    sys.path.insert(0, "/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing

    Processing.initialize()
    root = Path(tempfile.mkdtemp())
    (root / "lcz_mapping").symlink_to(REPO)
    sys.path.insert(0, str(root))
    plugin = importlib.import_module("lcz_mapping").classFactory(None)
    plugin.initProcessing()
    return app, plugin  # the plugin keeps its provider registered


def complete(path: Path) -> list[str]:
    """Fill ``path``'s missing required values with their defaults; what was filled."""
    from qgis.core import QgsProcessingModelAlgorithm
    from qgis.core import QgsProcessingModelChildParameterSource as Source

    model = QgsProcessingModelAlgorithm()
    if not model.fromFile(str(path)):
        raise SystemExit(f"{path}: not a model file QGIS reads")
    filled = []
    for cid in list(model.childAlgorithms()):
        child = model.childAlgorithm(cid)
        for d in child.algorithm().parameterDefinitions():
            if d.isDestination() or d.name() in child.parameterSources():
                continue
            if d.defaultValue() is not None and not d.flags() & d.FlagOptional:
                child.addParameterSources(d.name(), [Source.fromStaticValue(d.defaultValue())])
                filled.append(f"{cid}: {d.name()} = {d.defaultValue()!r}")
        model.setChildAlgorithm(child)
    if filled and not model.toFile(str(path)):
        raise SystemExit(f"{path}: cannot write it")
    ok, errors = model.validate()
    if not ok:
        raise SystemExit(f"{path}: still invalid: {errors}")
    return filled


def main() -> None:
    app, _plugin = start_qgis()
    for path in sorted((REPO / "resources" / "models").glob("*.model3")):
        filled = complete(path)
        print(f"{path.name}: " + ("; ".join(filled) if filled else "nothing to fill"))
    app.exitQgis()


if __name__ == "__main__":
    main()
