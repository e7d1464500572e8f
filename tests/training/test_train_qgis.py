"""lcz:trainmodel (Keras) and lcz:evaluatemodel inside QGIS Processing and qgis_process."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.qgis]


def _alg(alg_id):
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById(alg_id)
    assert alg is not None, alg_id
    return alg


def test_algorithms_list_keras_types_and_html_outputs(qgis_app):
    train = _alg("lcz:trainmodel")
    # readable labels in the dialog; the codes (what scripts pass) in the same order
    from lcz_qgis.commands.train import COMMAND

    options = train.parameterDefinition("MODEL_TYPE").options()
    codes = COMMAND.param("MODEL_TYPE").codes
    assert codes == ["rf", "mlp", "mlp_diy", "resnet50", "fusion", "fusion_late", "sen2lcznet"]
    assert options == COMMAND.param("MODEL_TYPE").labels and options[0].startswith("Random forest")
    for key in ("EPOCHS", "BATCH_SIZE", "LEARNING_RATE", "SCHEDULE", "EARLY_STOPPING",
                "CLASS_WEIGHTS", "AUGMENT", "REPORT"):  # fmt: skip
        assert train.parameterDefinition(key) is not None, key
    assert COMMAND.param("SCHEDULE").codes == ["constant", "exponential", "cosine"]
    assert train.parameterDefinition("SCHEDULE").options()[0] == "Constant learning rate"
    ev = _alg("lcz:evaluatemodel")
    for key in ("MODEL", "DATASET", "SENSOR", "OUTPUT_JSON", "REPORT", "OUTPUT_CSV"):
        assert ev.parameterDefinition(key) is not None, key
    assert ev.parameterDefinition("SENSOR").flags() & ev.parameterDefinition("SENSOR").FlagOptional
    # an HTML destination becomes an HTML output: Processing shows it in the results viewer
    assert ev.outputDefinition("REPORT").type() == "outputHtml"
    assert train.outputDefinition("REPORT").type() == "outputHtml"
    outs = {o.name(): o.type() for o in ev.outputDefinitions()}
    assert outs["OA"] == outs["KAPPA"] == outs["OA_W"] == "outputNumber"
    assert ev.shortHelpString() and train.shortHelpString()


@pytest.mark.tf
def test_trainmodel_mlp_then_evaluatemodel(run_alg, sample_dir, tmp_path):
    model, report = tmp_path / "mlp.lczmodel", tmp_path / "train.html"
    res = run_alg(
        "lcz:trainmodel",
        {
            "TRAIN": str(sample_dir / "train.h5"),
            "VALIDATION": str(sample_dir / "test.h5"),
            "MODEL_TYPE": "mlp",
            "SENSOR": "sen2",
            "MAX_SAMPLES": 200,
            "EPOCHS": 2,
            "BATCH_SIZE": 32,
            "LEARNING_RATE": 0.001,
            "SCHEDULE": "exponential",
            "EARLY_STOPPING": 0,
            "CLASS_WEIGHTS": True,
            "AUGMENT": False,
            "REPORT": str(report),
            "OUTPUT": str(model),
        },
    )
    assert res["OUTPUT"] == str(model) and model.exists() and report.exists()
    assert 0 < res["OA"] <= 1 and -1 <= res["KAPPA"] <= 1
    from lcz_qgis.models.modelfile import read_manifest

    m = read_manifest(model)
    assert m["training"]["epochs_run"] == 2 and m["training"]["schedule"] == "exponential"
    assert m["training"]["class_weights"] is True
    assert m["scores"]["oa"] == pytest.approx(res["OA"])

    out_json = tmp_path / "eval.json"
    ev = run_alg(
        "lcz:evaluatemodel",
        {
            "MODEL": str(model),
            "DATASET": str(sample_dir / "test.h5"),
            "OUTPUT_JSON": str(out_json),
            "REPORT": str(tmp_path / "eval.html"),
            "OUTPUT_CSV": str(tmp_path / "eval.csv"),
        },
    )
    saved = json.loads(out_json.read_text())
    # MAX_SAMPLES also caps the validation file: the evaluation of the whole file differs
    assert ev["OA"] == pytest.approx(saved["oa"]) and saved["n"] == 400
    assert ev["OA_W"] == pytest.approx(saved["oa_w"]) and ev["KAPPA"] == pytest.approx(
        saved["kappa"]
    )
    assert ev["WEIGHTED_F1"] == pytest.approx(saved["weighted_f1"]) and 0 < ev["WEIGHTED_F1"] <= 1
    assert (tmp_path / "eval.html").exists() and (tmp_path / "eval.csv").exists()


def test_evaluatemodel_errors_become_processing_errors(run_alg, rf_model, tmp_path):
    import h5py
    import numpy as np
    from qgis.core import QgsProcessingException

    with h5py.File(tmp_path / "s1.h5", "w") as f:
        f["sen1"] = np.zeros((2, 32, 32, 8))
        f["label"] = np.eye(17)[[0, 1]]
    with pytest.raises(QgsProcessingException, match="has no 'sen2' data"):
        run_alg(
            "lcz:evaluatemodel",
            {"MODEL": str(rf_model), "DATASET": str(tmp_path / "s1.h5"),
             "OUTPUT_JSON": str(tmp_path / "e.json")},
        )  # fmt: skip
    assert not (tmp_path / "e.json").exists()


def test_evaluatemodel_with_qgis_process(qgis_process, rf_model, sample_dir, tmp_path):
    out_json = tmp_path / "qp.json"
    proc = qgis_process(
        "run",
        "lcz:evaluatemodel",
        "--",
        f"MODEL={rf_model}",
        f"DATASET={sample_dir / 'test.h5'}",
        f"OUTPUT_JSON={out_json}",
        f"OUTPUT_CSV={tmp_path / 'qp.csv'}",
        f"REPORT={tmp_path / 'qp.html'}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    saved = json.loads(out_json.read_text())
    assert saved["n"] == 400 and 0.5 < saved["oa"] <= 1
    # qgis_process prints the numeric outputs
    line = next(x for x in proc.stdout.splitlines() if x.startswith("OA:"))
    assert math.isclose(float(line.split(":", 1)[1]), saved["oa"], rel_tol=1e-6)
    assert (tmp_path / "qp.csv").read_text().startswith("kind,code,lcz,name")
    assert "data:image/png;base64," in (tmp_path / "qp.html").read_text()
