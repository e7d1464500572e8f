"""Evaluation: streamed scores, writers (JSON, CSV, PNG, HTML), CLI, models trained elsewhere."""

from __future__ import annotations

import csv
import json
import shutil

import h5py
import numpy as np
import pytest
from helpers import write_h5

from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.common.legend import LCZ_CLASSES
from lcz_qgis.evaluation.evaluate import (
    evaluate_model,
    scores_csv_text,
    write_confusion_png,
    write_outputs,
)
from lcz_qgis.evaluation.metrics import lcz_scores
from lcz_qgis.models.modelfile import load_model
from lcz_qgis.so2sat.file import So2SatFile


@pytest.fixture(scope="module")
def rf_scores(rf_model, sample_dir):
    return evaluate_model(rf_model, sample_dir / "test.h5", batch_size=64)


def test_scores_equal_direct_prediction(rf_model, sample_dir, rf_scores):
    model = load_model(rf_model)
    with So2SatFile(sample_dir / "test.h5") as f:
        x = f.read("sen2", np.arange(f.n))
        codes = f.labels()
    expected = lcz_scores(codes, model.predict(x))
    assert rf_scores["n"] == len(codes) == 400
    assert rf_scores["confusion"] == expected["confusion"]
    for k in ("oa", "kappa", "oa_u", "oa_bu", "oa_w", "macro_f1"):
        assert rf_scores[k] == pytest.approx(expected[k])
    assert rf_scores["oa"] > 0.5  # the rf learns the synthetic classes
    assert rf_scores["n_skipped"] == 0
    assert rf_scores["sensor"] == "sen2" and rf_scores["model_type"] == "rf"
    assert 0 < rf_scores["loss"] < 5


def test_streaming_reads_each_patch_once(rf_model, sample_dir):
    """Progress per batch and reads in file order: the bytes read are one pass."""
    fb = RecordingFeedback()
    evaluate_model(rf_model, sample_dir / "test.h5", fb, batch_size=50)
    assert len(fb.percents) >= 8 and fb.percents[-1] == 100
    assert all(b >= a for a, b in zip(fb.percents, fb.percents[1:]))


def test_writers(rf_scores, tmp_path):
    out = write_outputs(
        rf_scores,
        output_json=tmp_path / "s.json",
        csv_path=tmp_path / "s.csv",
        report=tmp_path / "r.html",
        confusion_png=tmp_path / "cm.png",
    )
    assert set(out) == {"json", "csv", "report", "confusion_png"}
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["oa"] == pytest.approx(rf_scores["oa"])
    assert np.array(data["confusion"]).shape == (17, 17)
    # the matrix says what its rows and columns are
    assert data["confusion_axes"] == {"rows": "reference", "columns": "predicted"}
    assert data["confusion_labels"] == [c.letter for c in LCZ_CLASSES]
    assert data["confusion_labels"][10] == "A" and data["confusion_codes"][10] == 11
    cm = np.array(data["confusion"])
    assert cm.sum(axis=1).tolist() == [c["support"] for c in data["per_class"]]  # rows: reference
    assert data["weighted_f1"] == pytest.approx(rf_scores["weighted_f1"])
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    classes = [r for r in rows if r["kind"] == "class"]
    assert [r["lcz"] for r in classes] == [c.letter for c in LCZ_CLASSES]
    assert [r["name"] for r in classes] == [c.name for c in LCZ_CLASSES]
    assert sum(int(r["support"]) for r in classes) == 400
    first = rf_scores["per_class"][0]
    assert float(classes[0]["recall"]) == pytest.approx(first["recall"], abs=1e-6)
    # UA = precision, PA = recall, under their LCZ names too
    for r, c in zip(classes, rf_scores["per_class"]):
        assert r["ua"] == r["precision"] and float(r["ua"]) == pytest.approx(c["precision"])
        assert r["pa"] == r["recall"] and float(r["pa"]) == pytest.approx(c["recall"])
    overall = {r["name"]: float(r["value"]) for r in rows if r["kind"] == "overall"}
    assert overall["OA"] == pytest.approx(rf_scores["oa"], abs=1e-6)
    wf1 = overall["Weighted F1 (by reference support)"]
    assert wf1 == pytest.approx(rf_scores["weighted_f1"], abs=1e-6)
    assert overall["OA_w (LCZ-weighted)"] == pytest.approx(rf_scores["oa_w"], abs=1e-6)
    png = (tmp_path / "cm.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(png[16:20], "big")
    assert width > 800  # two panels side by side
    html = (tmp_path / "r.html").read_text()
    assert html.count("data:image/png;base64,") == 2  # confusion matrix + reliability diagram
    assert "Dense trees" in html and "OA_w" in html and "test.h5" in html
    assert "UA (precision)" in html and "PA (recall)" in html and "Weighted F1" in html


def test_confusion_png_counts_and_normalised(tmp_path):
    """The PNG is drawn from the scores; an all-zero row does not break normalisation."""
    s = lcz_scores([1, 1, 2, 17], [1, 2, 2, 17])
    write_confusion_png(s, tmp_path / "c.png", title="t")
    assert (tmp_path / "c.png").stat().st_size > 10_000


def test_csv_text_has_overall_rows(rf_scores):
    lines = scores_csv_text(rf_scores).splitlines()
    assert lines[0] == "kind,code,lcz,name,support,precision,recall,f1,value,ua,pa"
    assert len(lines) == 1 + 17 + 8  # 8 overall scores, ECE the last
    assert all(len(row) == 11 for row in csv.reader(lines))


def test_nan_patches_are_skipped_and_counted(rf_model, sample_dir, tmp_path):
    with So2SatFile(sample_dir / "test.h5") as f:
        x = f.read("sen2", np.arange(120))
        codes = f.labels(np.arange(120))
    x[[3, 50, 51]] = np.nan
    x[7, 0, 0, 0] = np.inf
    path = write_h5(tmp_path / "nan.h5", codes, sen2=x)
    fb = RecordingFeedback()
    s = evaluate_model(rf_model, path, fb)
    assert s["n_skipped"] == 4 and s["n"] == 116
    assert any("skipped 4 of 120" in w for w in fb.warnings)


def test_sensor_mismatch_is_a_clear_error(rf_model, tmp_path):
    path = write_h5(tmp_path / "s1only.h5", [1, 2], sen1=np.zeros((2, 32, 32, 8)))
    with pytest.raises(LczError, match="sen2 model .* has no 'sen2' data"):
        evaluate_model(rf_model, path)
    with pytest.raises(LczError, match="override"):
        evaluate_model(rf_model, path, sensor="sen1")


def test_unlabelled_or_missing_dataset(rf_model, tmp_path):
    with h5py.File(tmp_path / "nolabel.h5", "w") as f:
        f["sen2"] = np.zeros((2, 32, 32, 10))
    with pytest.raises(LczError, match="label"):
        evaluate_model(rf_model, tmp_path / "nolabel.h5")
    with pytest.raises(LczError, match="does not exist"):
        evaluate_model(rf_model, tmp_path / "missing.h5")


def test_cancel_writes_nothing(rf_model, sample_dir):
    with pytest.raises(Cancelled):
        evaluate_model(rf_model, sample_dir / "test.h5", RecordingFeedback(cancel_at=20), 50)


def test_cli_evaluate(rf_model, sample_dir, tmp_path, capsys):
    from lcz_qgis.cli import main

    rc = main(
        [
            "-q",
            "evaluate",
            "--model",
            str(rf_model),
            "--dataset",
            str(sample_dir / "test.h5"),
            "--output-json",
            str(tmp_path / "e.json"),
            "--csv",
            str(tmp_path / "e.csv"),
            "--report",
            str(tmp_path / "e.html"),
        ]
    )
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "e.json").read_text())
    assert printed["oa"] == pytest.approx(saved["oa"]) and printed["n"] == 400
    assert (tmp_path / "e.csv").exists() and (tmp_path / "e.html").exists()
    rc = main(["evaluate", "--model", str(rf_model), "--dataset", str(tmp_path / "nope.h5")])
    assert rc == 2
    assert "does not exist" in capsys.readouterr().err
    rc = main(
        [
            "evaluate",
            "--model",
            str(rf_model),
            "--dataset",
            str(sample_dir / "test.h5"),
            "--output-json",
            str(tmp_path / "no_dir" / "e.json"),
        ]
    )
    assert rc == 2 and "output folder" in capsys.readouterr().err


# -- models trained elsewhere (plain Keras files) ---------------------------------------


@pytest.fixture(scope="module")
def keras():
    tf = pytest.importorskip("tensorflow")
    return tf.keras


def _notebook_model(keras, channels=10, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((32, 32, channels)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(17, activation="softmax"),
        ]
    )


@pytest.mark.tf
@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_notebook_saved_model_classifies_and_evaluates(keras, sample_dir, tmp_path, suffix):
    from lcz_qgis.classify.pipeline import classify_raster
    from lcz_qgis.raster.io import read_lcz_map

    km = _notebook_model(keras)
    km.compile("adam", "sparse_categorical_crossentropy")
    path = tmp_path / f"notebook{suffix}"
    km.save(path)  # what the seed notebook does
    model = load_model(path)
    assert model.sensor == "sen2" and model.input_channels == 10
    x = np.random.default_rng(0).random((5, 32, 32, 10)).astype(np.float32)
    np.testing.assert_allclose(model.predict_proba(x), km.predict(x, verbose=0), atol=1e-5)
    res = classify_raster(model, tmp_path / "map.tif", sentinel2=sample_dir / "scene_s2.tif")
    codes, _info = read_lcz_map(res.output)
    assert codes.shape == (res.grid.rows, res.grid.cols)
    assert codes.max() <= 17 and (codes > 0).sum() > 0.8 * codes.size
    assert codes[0, 0] == 0  # the nodata corner strip
    s = evaluate_model(path, sample_dir / "test.h5", batch_size=128)
    assert s["n"] == 400 and 0 <= s["oa"] <= 1 and s["model_type"] == "keras"


@pytest.mark.tf
def test_keras_with_lambda_is_refused(keras, tmp_path):
    inp = keras.Input((32, 32, 10))
    x = keras.layers.Lambda(lambda t: t * 2.0)(inp)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(17, activation="softmax")(x)
    keras.Model(inp, out).save(tmp_path / "lambda.keras")
    with pytest.raises(LczError, match="Lambda"):
        load_model(tmp_path / "lambda.keras")
    with pytest.raises(LczError, match="Lambda"):
        evaluate_model(tmp_path / "lambda.keras", tmp_path / "unused.h5")


@pytest.mark.tf
@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_truncated_model_file_is_a_clear_error(keras, tmp_path, suffix):
    good = tmp_path / f"good{suffix}"
    _notebook_model(keras).save(good)
    bad = tmp_path / f"bad{suffix}"
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(LczError, match="bad"):
        load_model(bad)


@pytest.mark.tf
def test_keras_sensor_inferred_override_and_mismatch(keras, sample_dir, tmp_path):
    s1_path = tmp_path / "s1.keras"
    _notebook_model(keras, channels=8).save(s1_path)
    assert load_model(s1_path).sensor == "sen1"
    only_s2 = tmp_path / "only_s2.h5"
    with So2SatFile(sample_dir / "test.h5") as f:
        write_h5(only_s2, f.labels(np.arange(4)), sen2=f.read("sen2", np.arange(4)))
    with pytest.raises(LczError, match="sen1 model .* has no 'sen1' data"):
        evaluate_model(s1_path, only_s2)
    s2_path = tmp_path / "s2.keras"
    _notebook_model(keras, channels=10).save(s2_path)
    with pytest.raises(LczError, match="needs 8 input channels"):
        evaluate_model(s2_path, only_s2, sensor="sen1")
    # an explicit override that agrees works
    assert evaluate_model(s2_path, only_s2, sensor="sen2")["n"] == 4
    odd = tmp_path / "odd.keras"
    _notebook_model(keras, channels=4).save(odd)
    with pytest.raises(LczError, match="give the sensor"):
        evaluate_model(odd, only_s2)


def test_copy_of_model_evaluates_the_same(rf_model, sample_dir, tmp_path, rf_scores):
    copy = tmp_path / "copy.lczmodel"
    shutil.copy(rf_model, copy)
    s = evaluate_model(copy, sample_dir / "test.h5", batch_size=400)
    assert s["confusion"] == rf_scores["confusion"]
