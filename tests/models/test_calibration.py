"""Temperature scaling and the expected calibration error: fitting, model files, evaluation.

The temperature is recovered on synthetic logits drawn at a known temperature; on a
real over-confident MLP trained on generated So2Sat patches, a temperature fitted on one
held-out file lowers the ECE on another; calibrated model files round-trip and apply
softmax(log p / T) without changing any prediction; damaged calibration entries are
refused; ``lcz evaluate`` writes the ECE and the reliability diagram.
"""

from __future__ import annotations

import csv
import json
import math
import zipfile

import numpy as np
import pytest

from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.evaluation.evaluate import (
    ConfusionAccumulator,
    calibrate_to_file,
    evaluate_model,
    evaluate_to_files,
)
from lcz_qgis.evaluation.metrics import (
    calibration_bin_counts,
    calibration_table,
    expected_calibration_error,
)
from lcz_qgis.models.calibration import apply_temperature, fit_temperature, nll
from lcz_qgis.models.modelfile import check_manifest, load_model, read_manifest
from lcz_qgis.sample_data import write_so2sat_file
from lcz_qgis.so2sat.file import So2SatFile


def _draw(n: int, temperature: float, seed: int):
    """Logits z and labels drawn from softmax(z / temperature); returns softmax(z), labels."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 3.0, (n, 17))
    q = np.exp(z / temperature)
    q /= q.sum(axis=1, keepdims=True)
    u = rng.random(n)[:, None]
    labels = (q.cumsum(axis=1) < u).sum(axis=1) + 1  # inverse-CDF sampling
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True), np.minimum(labels, 17)


# -- the core functions ------------------------------------------------------------------


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_t):
    p, labels = _draw(30_000, true_t, seed=int(true_t * 10))
    t = fit_temperature(p, labels)
    assert t == pytest.approx(true_t, rel=0.04)
    # it is the minimum of the NLL: a little either side is worse
    assert nll(p, labels, t) < nll(p, labels, t * 1.1)
    assert nll(p, labels, t) < nll(p, labels, t / 1.1)


def test_apply_temperature_is_softmax_of_log_p_over_t_and_keeps_argmax():
    p, _ = _draw(500, 1.0, seed=3)
    p[:5, 3] = 0.0  # a forest's zeros stay finite (clipped at EPS)
    p /= p.sum(axis=1, keepdims=True)
    for t in (0.3, 1.0, 4.0):
        z = np.log(np.clip(p, 1e-7, 1.0)) / t
        want = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        got = apply_temperature(p, t)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(np.argmax(got, axis=1), np.argmax(p, axis=1))
    # T > 1 lowers the confidence, T < 1 raises it
    assert apply_temperature(p, 3.0).max(axis=1).mean() < p.max(axis=1).mean()
    assert apply_temperature(p, 0.5).max(axis=1).mean() > p.max(axis=1).mean()
    with pytest.raises(LczError, match="temperature"):
        apply_temperature(p, -1.0)
    with pytest.raises(LczError, match="temperature"):
        apply_temperature(p, float("nan"))


def test_fit_temperature_bad_inputs():
    p, labels = _draw(10, 1.0, seed=1)
    with pytest.raises(LczError, match="no held-out"):
        fit_temperature(np.zeros((0, 17)), np.zeros(0, int))
    zero_based = labels.copy()
    zero_based[0] = 0
    with pytest.raises(LczError, match="LCZ codes"):
        fit_temperature(p, zero_based)
    with pytest.raises(LczError, match="shape"):
        fit_temperature(p[:, :5], labels)
    bad = p.copy()
    bad[0, 0] = np.nan
    with pytest.raises(LczError, match="NaN"):
        fit_temperature(bad, labels)


def test_ece_of_a_hand_made_case():
    confidence = np.array([0.05, 0.5, 0.55, 0.9, 0.95, 1.0])
    correct = np.array([False, True, False, True, True, True])
    # 15 bins ((k-1)/15, k/15]: 0.05 -> bin 1, 0.5 -> bin 8 (0.467, 0.533], 0.55 -> bin 9,
    # 0.9 -> bin 14 (0.867, 0.933], 0.95 and 1.0 -> bin 15 (mean confidence 0.975)
    by_hand = (abs(0 - 0.05) + abs(1 - 0.5) + abs(0 - 0.55) + abs(1 - 0.9) + 2 * abs(1 - 0.975)) / 6
    assert expected_calibration_error(confidence, correct) == pytest.approx(by_hand)
    assert by_hand == pytest.approx(1.25 / 6)
    table = calibration_table(calibration_bin_counts(confidence, correct))
    assert [r["count"] for r in table] == [1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 2]
    assert table[14]["confidence"] == pytest.approx(0.975) and table[14]["accuracy"] == 1.0
    assert table[1]["accuracy"] is None and table[0]["upper"] == pytest.approx(1 / 15)
    # one bin: |accuracy - mean confidence| over all
    one = expected_calibration_error(confidence, correct, n_bins=1)
    assert one == pytest.approx(abs(4 / 6 - confidence.mean()))
    assert math.isnan(expected_calibration_error([], []))


def test_streamed_bins_equal_the_ece_of_all_patches():
    p, labels = _draw(2000, 2.0, seed=5)
    acc = ConfusionAccumulator()
    for a in range(0, 2000, 300):
        acc.add(labels[a : a + 300], p[a : a + 300])
    pred = np.argmax(p, axis=1) + 1
    want = expected_calibration_error(p.max(axis=1), pred == labels)
    s = acc.scores()
    assert s["ece"] == pytest.approx(want, rel=1e-9) and s["ece_bins"] == 15
    assert sum(r["count"] for r in s["calibration_bins"]) == 2000
    # drawn at T = 2 but scored at T = 1: over-confident, the ECE is large
    assert s["ece"] > 0.1


# -- model files -------------------------------------------------------------------------


def _rewrite(src, dst, change) -> None:
    """Copy the model file ``src`` to ``dst`` with ``change(manifest)`` applied."""
    with zipfile.ZipFile(src) as z:
        manifest = json.loads(z.read("manifest.json"))
        member = manifest["model_member"]
        payload = z.read(member)
    change(manifest)
    with zipfile.ZipFile(dst, "w") as z:
        z.writestr("manifest.json", json.dumps(manifest))
        z.writestr(member, payload)


def test_calibrated_forest_round_trips_and_applies_t(rf_model, sample_dir, tmp_path):
    out = tmp_path / "rf_cal.lczmodel"
    before = rf_model.read_bytes()
    fb = RecordingFeedback()
    res = calibrate_to_file(rf_model, sample_dir / "test.h5", out, feedback=fb)
    assert rf_model.read_bytes() == before  # the input is never modified
    t = res["temperature"]
    assert 0.01 <= t <= 100 and res["n"] == 400 and res["fitted_on"] == "test.h5"
    # fitted on one half, scored on the other (tests/evaluation/test_calibrate_split.py)
    assert (res["n_fit"], res["n_scored"]) == (200, 200)
    assert any("temperature" in m for m in fb.messages) and fb.percents[-1] == 100
    m = read_manifest(out)
    assert m["calibration"] == {"method": "temperature", "temperature": t,
                                "fitted_on": "test.h5 (fitting half: 200 of 400 patches, "
                                "seed 0; scored on the other 200)", "n": 200}  # fmt: skip
    assert {k: v for k, v in m.items() if k != "calibration"} == read_manifest(rf_model)
    raw, cal = load_model(rf_model), load_model(out)
    assert raw.temperature is None and cal.temperature == pytest.approx(t)
    with So2SatFile(sample_dir / "test.h5") as f:
        x = f.read("sen2", np.arange(50))
    p = raw.predict_proba(x)
    z = np.log(np.clip(p.astype(np.float64), 1e-7, 1.0)) / t
    manual = np.exp(z - z.max(axis=1, keepdims=True))
    manual /= manual.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(cal.predict_proba(x), manual, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(cal.predict(x), raw.predict(x))
    np.testing.assert_array_equal(cal.predict_proba(x, calibrated=False), p)
    # evaluation sees the calibrated probabilities: same classes, another ECE and loss
    s_raw = evaluate_model(rf_model, sample_dir / "test.h5")
    s_cal = evaluate_model(out, sample_dir / "test.h5")
    assert s_cal["confusion"] == s_raw["confusion"] and s_cal["temperature"] == t
    assert s_cal["ece"] != pytest.approx(s_raw["ece"], abs=1e-6)
    # calibrating a calibrated model fits on its raw probabilities again: the same T
    again = calibrate_to_file(out, sample_dir / "test.h5", tmp_path / "again.lczmodel")
    assert again["temperature"] == pytest.approx(t, rel=1e-9)


@pytest.mark.parametrize(
    "entry, why",
    [
        ({"method": "temperature", "temperature": -1.0, "fitted_on": "a", "n": 3}, "within"),
        ({"method": "temperature", "temperature": 0.0, "fitted_on": "a", "n": 3}, "within"),
        ({"method": "temperature", "temperature": float("nan"), "fitted_on": "a", "n": 3},
         "within"),
        ({"method": "temperature", "temperature": float("inf"), "fitted_on": "a", "n": 3},
         "within"),
        ({"method": "temperature", "temperature": "2.0", "fitted_on": "a", "n": 3}, "number"),
        ({"method": "temperature", "temperature": True, "fitted_on": "a", "n": 3}, "number"),
        ({"method": "platt", "temperature": 2.0, "fitted_on": "a", "n": 3}, "method"),
        ({"method": "temperature", "temperature": 2.0, "fitted_on": "a", "n": -3}, "count"),
        ({"method": "temperature", "temperature": 2.0}, "lacks"),
        ({"method": "temperature", "temperature": 2.0, "fitted_on": "a", "n": 3, "code": "x"},
         "may not have"),
        ([2.0], "JSON object"),
    ],
)  # fmt: skip
def test_damaged_calibration_entries_are_refused(rf_model, entry, why):
    manifest = read_manifest(rf_model)
    check_manifest(manifest, "ok.lczmodel")
    manifest["calibration"] = entry
    with pytest.raises(LczError, match=f"ok.lczmodel.*calibration.*{why}"):
        check_manifest(manifest, "ok.lczmodel")


def test_damaged_calibration_refused_on_load(rf_model, tmp_path):
    bad = tmp_path / "nan.lczmodel"

    def nan_t(m):
        m["calibration"] = {"method": "temperature", "temperature": float("nan"),
                            "fitted_on": "x.h5", "n": 10}  # fmt: skip

    _rewrite(rf_model, bad, nan_t)
    assert '"temperature": NaN' in zipfile.ZipFile(bad).read("manifest.json").decode()
    with pytest.raises(LczError, match="nan.lczmodel.*damaged or edited.*calibration"):
        load_model(bad)


def test_calibrate_refuses_output_over_input_and_writes_nothing_on_cancel(
    rf_model, sample_dir, tmp_path
):
    before = rf_model.read_bytes()
    with pytest.raises(LczError, match="output .*rf.lczmodel' is the input model"):
        calibrate_to_file(rf_model, sample_dir / "test.h5", rf_model)
    assert rf_model.read_bytes() == before
    out = tmp_path / "c.lczmodel"
    with pytest.raises(Cancelled):
        calibrate_to_file(rf_model, sample_dir / "test.h5", out, RecordingFeedback(cancel_at=30))
    assert not out.exists() and not list(tmp_path.iterdir())


def test_cli_calibrate(rf_model, sample_dir, tmp_path, capsys):
    from lcz_qgis.cli import main

    out = tmp_path / "cli.lczmodel"
    args = ["-q", "calibrate", "--model", str(rf_model), "--dataset",
            str(sample_dir / "test.h5"), "--output", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["temperature"] == read_manifest(out)["calibration"]["temperature"]
    assert {"ece_before", "ece_after", "n"} <= set(printed)
    assert main(args[:-1] + [str(rf_model)]) != 0  # output = input
    assert "--output" in capsys.readouterr().err


# -- evaluation outputs ------------------------------------------------------------------


def test_evaluate_writes_ece_and_reliability_diagram(rf_model, sample_dir, tmp_path):
    scores, _ = evaluate_to_files(
        rf_model, sample_dir / "test.h5", output_json=tmp_path / "e.json",
        csv_path=tmp_path / "e.csv", report=tmp_path / "e.html",
    )  # fmt: skip
    model = load_model(rf_model)
    with So2SatFile(sample_dir / "test.h5") as f:
        p = model.predict_proba(f.read("sen2", np.arange(f.n)))
        codes = f.labels()
    pred = np.argmax(p, axis=1) + 1
    want = expected_calibration_error(p.max(axis=1), pred == codes)
    saved = json.loads((tmp_path / "e.json").read_text())
    assert saved["ece"] == pytest.approx(want, abs=1e-6) == pytest.approx(scores["ece"])
    bins = saved["calibration_bins"]
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 400
    rows = {r["name"]: r for r in csv.DictReader((tmp_path / "e.csv").open())}
    ece_row = rows["ECE (expected calibration error, 15 bins)"]
    assert ece_row["kind"] == "overall" and float(ece_row["value"]) == pytest.approx(want, abs=1e-6)
    html = (tmp_path / "e.html").read_text()
    assert "reliability diagram" in html and "ECE" in html
    assert html.count("data:image/png;base64,") == 2


# -- an over-confident network on real held-out data -------------------------------------


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    pytest.importorskip("tensorflow")
    from lcz_qgis.training.keras_training import train_keras

    d = tmp_path_factory.mktemp("cal_mlp")
    for name, seed in (("train.h5", 31), ("held_out.h5", 32), ("test.h5", 33)):
        write_so2sat_file(d / name, 400 if name == "train.h5" else 340, seed=seed)
    train_keras(
        d / "train.h5", d / "mlp.lczmodel", "mlp", "sen2", list(range(10)),
        epochs=3, batch_size=32, early_stopping=0, seed=2,
    )  # fmt: skip
    return d


@pytest.mark.tf
def test_temperature_scaling_lowers_the_ece_of_an_over_confident_mlp(mlp):
    """The done-criterion: fitted on one held-out file, better calibrated on another."""
    res = calibrate_to_file(mlp / "mlp.lczmodel", mlp / "held_out.h5", mlp / "cal.lczmodel")
    assert res["temperature"] > 1.2  # the MLP is over-confident: T softens it
    before = evaluate_model(mlp / "mlp.lczmodel", mlp / "test.h5")
    after = evaluate_model(mlp / "cal.lczmodel", mlp / "test.h5")
    assert after["confusion"] == before["confusion"]  # argmax unchanged
    assert after["ece"] < before["ece"] and after["loss"] < before["loss"]
    assert after["temperature"] == pytest.approx(res["temperature"])
    # the Keras model file round-trips: softmax(log p / T) of the raw network
    raw, cal = load_model(mlp / "mlp.lczmodel"), load_model(mlp / "cal.lczmodel")
    with So2SatFile(mlp / "test.h5") as f:
        x = f.read("sen2", np.arange(40))
    np.testing.assert_allclose(
        cal.predict_proba(x), apply_temperature(raw.predict_proba(x), res["temperature"]),
        rtol=1e-5, atol=1e-7,
    )  # fmt: skip


@pytest.mark.qgis
def test_calibratemodel_in_processing(run_alg, rf_model, sample_dir, tmp_path):
    out = tmp_path / "q.lczmodel"
    res = run_alg("lcz:calibratemodel", {"MODEL": str(rf_model),
                                         "DATASET": str(sample_dir / "test.h5"),
                                         "OUTPUT": str(out)})  # fmt: skip
    assert res["OUTPUT"] == str(out)
    assert res["TEMPERATURE"] == pytest.approx(read_manifest(out)["calibration"]["temperature"])
    assert res["ECE_AFTER"] <= res["ECE_BEFORE"] + 1e-12
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="OUTPUT|Calibrated model file"):
        run_alg("lcz:calibratemodel", {"MODEL": str(rf_model),
                                       "DATASET": str(sample_dir / "test.h5"),
                                       "OUTPUT": str(rf_model)})  # fmt: skip
