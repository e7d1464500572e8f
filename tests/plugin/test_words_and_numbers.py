"""Words and numbers a person reads in QGIS (issue 24, finding 6): enum labels that are
words while codes keep working, number boxes with sensible decimals, and a Processing
log without raw JSON, 16-digit floats or codes."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lcz_qgis.raster.io import gdal

pytestmark = pytest.mark.qgis

LONG_FLOAT = re.compile(r"\d\.\d{9,}")


def _recording_feedback():
    from qgis.core import QgsProcessingFeedback

    class Recording(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.lines: list[str] = []

        def pushInfo(self, info):  # noqa: N802 - QGIS API
            self.lines.append(info)
            super().pushInfo(info)

    return Recording()


def _lcz_algorithms(models: bool = True):
    """The provider's algorithms (with its graphical models, or without)."""
    from qgis.core import QgsApplication, QgsProcessingModelAlgorithm

    provider = QgsApplication.processingRegistry().providerById("lcz")
    return [a for a in provider.algorithms()
            if models or not isinstance(a, QgsProcessingModelAlgorithm)]  # fmt: skip


def test_every_processing_enum_shows_words(qgis_app):
    from qgis.core import QgsProcessingParameterEnum

    shown = {}
    for alg in _lcz_algorithms(models=False):
        for d in alg.parameterDefinitions():
            if isinstance(d, QgsProcessingParameterEnum) and not d.usesStaticStrings():
                shown[(alg.id(), d.name())] = d.options()
    assert shown[("lcz:classifyraster", "FILTER")] == [
        "No filter",
        "Majority of the 3 x 3 neighbouring cells",
        "Gaussian smoothing of probabilities (as the LCZ Generator)",
    ]
    bare = {key: o for key, options in shown.items() for o in options
            if re.fullmatch(r"[A-Za-z0-9_]+", o) and (o.islower() or o.isupper()
                                                      or o.lower() in {"none", "median"})}  # fmt: skip
    assert bare == {}


def test_filter_given_as_code_index_label_or_former_label_runs_the_same_filter(
    qgis_app, run_alg, sample_dir, rf_model, tmp_path
):
    maps = {}
    for value in ("gaussian", 2, "Gaussian smoothing of probabilities (as the LCZ Generator)",
                  "Gaussian (as the LCZ Generator)", "none"):  # fmt: skip
        out = tmp_path / f"map_{len(maps)}.tif"
        run_alg("lcz:classifyraster", {"MODEL": str(rf_model), "STRIDE": 16,
                                       "SENTINEL2": str(sample_dir / "scene_s2.tif"),
                                       "FILTER": value, "OUTPUT": str(out)})  # fmt: skip
        maps[value] = gdal().Open(str(out)).ReadAsArray()
    gaussian = maps["gaussian"]
    for value in (2, "Gaussian smoothing of probabilities (as the LCZ Generator)",
                  "Gaussian (as the LCZ Generator)"):  # fmt: skip
        np.testing.assert_array_equal(maps[value], gaussian)
    assert (maps["none"] != gaussian).any()  # the filter did something: the test can tell


def test_number_boxes_show_sensible_decimals(qgis_app):
    from qgis.core import QgsApplication, QgsProcessingParameterNumber

    reg = QgsApplication.processingRegistry()
    resolution = reg.algorithmById("lcz:classifyraster").parameterDefinition("RESOLUTION")
    assert resolution.metadata()["widget_wrapper"]["decimals"] == 1
    for alg in _lcz_algorithms(models=False):
        for d in alg.parameterDefinitions():
            if not isinstance(d, QgsProcessingParameterNumber):
                continue
            if d.dataType() != QgsProcessingParameterNumber.Double:
                continue
            decimals = d.metadata().get("widget_wrapper", {}).get("decimals")
            assert decimals is not None and decimals < 6 or d.name() == "LEARNING_RATE", (
                alg.id(),
                d.name(),
            )
            default = d.defaultValue()
            if default is not None:  # the default shows whole in the box
                assert round(float(default), decimals) == float(default), (alg.id(), d.name())


def test_the_evaluation_log_has_no_raw_json_or_long_floats(qgis_app, run_alg, sample_dir, rf_model):
    feedback = _recording_feedback()
    run_alg("lcz:evaluatemodel", {"MODEL": str(rf_model), "DATASET": str(sample_dir / "test.h5")},
            feedback=feedback)  # fmt: skip
    # the algorithm's lines; "Results: {...}" after them is QGIS's own
    ours = feedback.lines[
        : next(i for i, x in enumerate(feedback.lines) if x.startswith("Results"))
    ]
    log = "\n".join(ours)
    assert not LONG_FLOAT.search(log), log
    assert "{" not in log and '"oa"' not in log
    [oa_line] = [line.strip() for line in ours if line.startswith("  OA: ")]
    assert re.fullmatch(r"OA: 0\.\d{3}", oa_line)
    core = next(line for line in ours if line.startswith("OA "))  # the core's summary line
    assert core.startswith(oa_line.replace(":", ""))  # the same score, in the same format
    assert "  patches: 400" in ours


def test_the_classify_log_names_the_model_in_words(
    qgis_app, run_alg, sample_dir, rf_model, tmp_path
):
    feedback = _recording_feedback()
    run_alg("lcz:classifyraster", {"MODEL": str(rf_model), "STRIDE": 16,
                                   "SENTINEL2": str(sample_dir / "scene_s2.tif"),
                                   "OUTPUT": str(tmp_path / "m.tif")}, feedback=feedback)  # fmt: skip
    # and what runs it: the plugin's forest (whole votes) on ONNX Runtime by default
    assert "model: random forest (Sentinel-2), 10 channels, on ONNX Runtime" in feedback.lines


def test_readable_report_keeps_text_and_rounds_json(qgis_app):
    from lcz_mapping.processing_algorithms.spec_algorithm import readable_report  # as QGIS loads it

    text = readable_report('{"oa": 0.8234567890123, "n": 400, "per_class": {"1": {"f1": 0.5}}}')
    assert text.splitlines() == ["Summary:", "  OA: 0.823", "  patches: 400", "  per class:",
                                 "    1: f1 0.500"]  # fmt: skip
    assert readable_report("map.tif: 12 x 9 cells, ECE 0.0412345678") == (
        "map.tif: 12 x 9 cells, ECE 0.04123"
    )
