"""A random forest's model file: its accuracy on the sample data, its manifest, its
probabilities, and damaged or foreign files refused."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lcz_qgis import load_model
from lcz_qgis.common.errors import LczError
from lcz_qgis.evaluation.metrics import lcz_scores
from lcz_qgis.so2sat.file import So2SatFile

# rf (patch statistics) on the test fixture's 1200 training patches scored OA 0.902,
# 0.917 and 0.915 on test.h5 for sample-data seeds 42, 1 and 2 (chance: 0.10 for the
# largest class). The floor leaves room for other scikit-learn versions.
RF_OA_FLOOR = 0.85


def test_rf_accuracy_on_test_h5_is_above_the_floor(sample_dir, rf_model):
    model = load_model(rf_model)
    with So2SatFile(sample_dir / "test.h5") as f:
        scores = lcz_scores(f.labels(), model.predict(f.read("sen2", np.arange(f.n))))
    assert scores["oa"] > RF_OA_FLOOR, scores["oa"]
    assert model.manifest["scores"]["oa"] > RF_OA_FLOOR  # validation score recorded


def test_model_manifest_records_what_it_must(rf_model):
    m = load_model(rf_model).manifest
    assert m["format"] == "lczmodel" and m["format_version"] == 1
    assert m["model_type"] == "rf" and m["sensor"] == "sen2"
    assert m["band_names"] == ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]
    assert m["classes"] == list(range(1, 18))
    assert m["preprocessing"][0]["type"] == "patch_features"
    assert m["training"]["n_train"] > 0 and len(m["training"]["class_counts"]) == 17
    assert "scikit-learn" in m["library_versions"] and "skops" in m["library_versions"]
    with zipfile.ZipFile(rf_model) as z:
        # no pickle; the forest's ONNX graph beside it (docs/onnx.md)
        assert set(z.namelist()) == {"manifest.json", "model.skops", "model.onnx"}


def test_predict_proba_is_n_by_17_in_code_order(rf_model, sample_dir):
    model = load_model(rf_model)
    with So2SatFile(sample_dir / "test.h5") as f:
        x = f.read("sen2", np.arange(20))
        y = f.labels(np.arange(20))
    p = model.predict_proba(x)
    assert p.shape == (20, 17)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert (np.argmax(p, axis=1) + 1 == y).mean() > 0.5
    with pytest.raises(LczError, match="takes 10 channels"):
        model.predict_proba(x[..., :8])


def test_corrupt_or_foreign_model_files_are_refused(tmp_path, rf_model):
    junk = tmp_path / "junk.lczmodel"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(LczError, match="not a valid .lczmodel"):
        load_model(junk)
    foreign = tmp_path / "foreign.lczmodel"
    with zipfile.ZipFile(foreign, "w") as z:
        z.writestr("manifest.json", json.dumps({"format": "something-else"}))
    with pytest.raises(LczError, match="not an LCZ model file"):
        load_model(foreign)
    truncated = tmp_path / "truncated.lczmodel"
    truncated.write_bytes(Path(rf_model).read_bytes()[:2000])
    with pytest.raises(LczError):
        load_model(truncated)


def test_saving_a_forest_says_each_step_before_it_runs(tmp_path, monkeypatch, rf_model):
    # a large forest's ONNX conversion runs for seconds to minutes: the log names it first
    from lcz_qgis.common.feedback import Feedback
    from lcz_qgis.models import modelfile, onnx_export

    events = []

    class Log(Feedback):
        def info(self, message):
            events.append(message)

    engine = modelfile.engine_class("sklearn")
    real_dumps, real_entry = engine.dumps, onnx_export.graph_entry
    monkeypatch.setattr(engine, "dumps",
                        staticmethod(lambda est: events.append("DUMPS") or real_dumps(est)))  # fmt: skip
    monkeypatch.setattr(onnx_export, "graph_entry",
                        lambda *a: events.append("GRAPH") or real_entry(*a))  # fmt: skip
    forest = load_model(rf_model, runtime="tensorflow")  # its own framework: scikit-learn
    out = tmp_path / "again.lczmodel"
    modelfile.save_sklearn_model(out, forest.network, forest.manifest, Log())
    assert events[:2] == ["model file: saving the scikit-learn model", "DUMPS"]
    assert re.fullmatch(r"model file: its ONNX graph \(\d+ MB saved so far\): converting "
                        "it and checking it against the model", events[2])  # fmt: skip
    assert events[3:] == ["GRAPH"]
    assert load_model(out).manifest["onnx"]["votes"] == forest.manifest["onnx"]["votes"]
