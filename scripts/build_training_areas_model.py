"""Writes resources/models/training_areas_to_lcz_map.model3, the graphical model
"Training areas + Sentinel-2 -> LCZ map": Prepare Sentinel-2, then LCZ map from training
areas. Run with QGIS's Python (QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/...).

Built through the QGIS API rather than by hand, so the file is what the modeler writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from qgis.core import (
    QgsApplication,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QPointF

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "resources" / "models" / "training_areas_to_lcz_map.model3"
HELP = (
    "The LCZ map of a city from its training areas and one Sentinel-2 product, as the LCZ "
    "Generator makes it: Prepare Sentinel-2 turns the product into the 10-band stack, then "
    "LCZ map from training areas checks the training areas, scores a random forest on 25 "
    "splits by polygon, trains it on all polygons and classifies the stack.<br>"
    "<b>Inputs</b>: the training areas (a polygon file with an LCZ field, or the WUDAPT "
    "KML/KMZ), the Sentinel-2 product (.SAFE folder, MTD_MSIL2A.xml or .zip), the map "
    "resolution (100 m as the LCZ Generator) and the filter.<br>"
    "<b>Outputs</b>: the LCZ map and the factsheet (HTML: scores with 95% intervals, "
    "confusion matrix, class table, calibration, suspicious training areas) by default "
    "(to temporary files unless you choose files), and optionally the calibrated "
    "confidence and the suspicious training areas layer."
)
NAME = "training_areas_to_lcz_map"
SHORT = (
    "Makes a city's LCZ map with its bootstrap accuracy and factsheet from training areas "
    "and one Sentinel-2 product."
)
EXAMPLE = (
    "qgis_process run lcz:training_areas_to_lcz_map -- AREAS=areas.kml "
    "PRODUCT=/data/S2A_MSIL2A_...SAFE RESOLUTION=100 FILTER=2 "
    '"map:LCZ map=lcz.tif" "map:Factsheet=factsheet.html"'
)
FILTERS = ["None", "Majority (3 x 3)", "Gaussian (as the LCZ Generator)"]


def _input(model, helps, param, x, y, description):
    param.setHelp(description)
    helps[param.name()] = description
    model.addModelParameter(param, QgsProcessingModelParameter(param.name()))
    model.parameterComponent(param.name()).setPosition(QPointF(x, y))


def _output(child, key, name, x, y, by_default):
    out = QgsProcessingModelOutput(name, name)
    out.setChildOutputName(key)
    out.setChildId(child.childId())
    out.setMandatory(False)
    out.setDefaultValue("TEMPORARY_OUTPUT" if by_default else None)
    out.setPosition(QPointF(x, y))
    return out


def build() -> QgsProcessingModelAlgorithm:
    """The model, with its inputs in dialog order, children and outputs."""
    model = QgsProcessingModelAlgorithm(NAME, "Mapping", "mapping")
    helps = {"ALG_DESC": HELP, "ALG_CREATOR": "lcz_qgis", "SHORT_DESCRIPTION": SHORT,
             "EXAMPLES": EXAMPLE}  # fmt: skip
    _input(
        model,
        helps,
        QgsProcessingParameterFile("AREAS", "Training areas (polygons, KML/KMZ)"),
        100,
        80,
        "The training-area polygons with an LCZ field, or the WUDAPT KML/KMZ.",
    )
    _input(
        model,
        helps,
        QgsProcessingParameterFile("PRODUCT", "Sentinel-2 product"),
        100,
        180,
        "The Sentinel-2 product: .SAFE folder, MTD_MSIL2A.xml / MTD_MSIL1C.xml or .zip.",
    )
    _input(
        model,
        helps,
        QgsProcessingParameterNumber(
            "RESOLUTION",
            "Map resolution in metres",
            QgsProcessingParameterNumber.Double,
            100.0,
            False,
            10.0,
        ),
        100,
        280,
        "The map's pixel size in metres, a multiple of 10.",
    )
    _input(
        model,
        helps,
        QgsProcessingParameterEnum("FILTER", "Post-classification filter", FILTERS, False, 0),
        100,
        380,
        "The post-classification filter.",
    )
    src = QgsProcessingModelChildParameterSource
    prepare = QgsProcessingModelChildAlgorithm("lcz:preparesentinel2")
    prepare.setChildId("prepare")
    prepare.setDescription("Prepare Sentinel-2 (10-band stack)")
    prepare.setPosition(QPointF(400, 180))
    prepare.addParameterSources("INPUT", [src.fromModelParameter("PRODUCT")])
    prepare.addParameterSources("OUTPUT", [src.fromStaticValue("TEMPORARY_OUTPUT")])
    model.addChildAlgorithm(prepare)
    mapping = QgsProcessingModelChildAlgorithm("lcz:mapfromtrainingareas")
    mapping.setChildId("map")
    mapping.setDescription("LCZ map from training areas")
    mapping.setPosition(QPointF(700, 280))
    mapping.addParameterSources("AREAS", [src.fromModelParameter("AREAS")])
    mapping.addParameterSources("SENTINEL2", [src.fromChildOutput("prepare", "OUTPUT")])
    mapping.addParameterSources("RESOLUTION", [src.fromModelParameter("RESOLUTION")])
    mapping.addParameterSources("FILTER", [src.fromModelParameter("FILTER")])
    mapping.setModelOutputs({
        "LCZ map": _output(mapping, "OUTPUT", "LCZ map", 950, 220, True),
        "Factsheet": _output(mapping, "FACTSHEET", "Factsheet", 950, 280, True),
        "Confidence": _output(mapping, "CONFIDENCE", "Confidence", 950, 340, False),
        "Suspicious training areas": _output(mapping, "SUSPICIOUS",
                                             "Suspicious training areas", 950, 400, False),
    })  # fmt: skip
    model.addChildAlgorithm(mapping)
    model.setParameterOrder(["AREAS", "PRODUCT", "RESOLUTION", "FILTER"])
    model.setHelpContent(helps)
    return model


def main() -> int:
    """Start QGIS with the plugin's provider, build the model and write it."""
    import importlib
    import tempfile

    app = QgsApplication([], False)
    app.initQgis()
    link = Path(tempfile.mkdtemp()) / "lcz_mapping"  # the plugin's package name
    link.symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(link.parent))
    provider = importlib.import_module("lcz_mapping.processing_algorithms.provider")
    LczProvider = provider.LczProvider  # noqa: N806 - a class

    QgsApplication.processingRegistry().addProvider(LczProvider())
    model = build()
    tmp = TARGET.with_suffix(".model3.tmp")
    if not model.toFile(str(tmp)):
        print(f"could not write {tmp}", file=sys.stderr)
        return 1
    tmp.replace(TARGET)
    print(TARGET)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
