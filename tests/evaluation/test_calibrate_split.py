"""``lcz calibrate`` scores the temperature on patches it was not fitted on (issue 24,
finding 4). The held-out patches are split, seeded and stratified by class, into a
fitting half and a scoring half; the ECE and NLL reported are recomputed here on the
scoring half from the model's own probabilities. Too few patches: fitted and scored on
all of them, and the log, the result and the manifest say so."""

from __future__ import annotations

import numpy as np
import pytest

from lcz_qgis.evaluation.calibrate import calibrate_to_file
from lcz_qgis.evaluation.metrics import expected_calibration_error
from lcz_qgis.models.calibration import (
    MIN_PART,
    apply_temperature,
    fit_temperature,
    nll,
    split_for_scoring,
)
from lcz_qgis.models.modelfile import load_model, read_manifest
from lcz_qgis.so2sat.file import So2SatFile


def _ece(p, codes):
    pred = np.argmax(p, axis=1)
    return expected_calibration_error(p[np.arange(len(p)), pred], pred + 1 == codes)


def _raw(model, dataset):
    with So2SatFile(dataset) as f:
        return load_model(model).predict_proba(f.read("sen2", np.arange(f.n))), f.labels()


def test_the_reported_ece_is_that_of_patches_not_used_for_fitting(rf_model, sample_dir,
                                                                   tmp_path):  # fmt: skip
    data = sample_dir / "test.h5"
    res = calibrate_to_file(rf_model, data, tmp_path / "cal.lczmodel")
    p, codes = _raw(rf_model, data)
    assert res["n"] == len(codes) == 400 and res["n_skipped"] == 0
    fit, score = split_for_scoring(codes, 0)
    # two disjoint halves covering every patch, each class split evenly
    assert len(fit) == len(score) == 200 and not set(fit) & set(score)
    assert sorted({*fit, *score}) == list(range(400))
    for c in np.unique(codes):
        assert abs(np.sum(codes[fit] == c) - np.sum(codes[score] == c)) <= 1
    t = fit_temperature(p[fit], codes[fit])
    assert res["temperature"] == pytest.approx(t, rel=1e-9)
    assert res["temperature"] != pytest.approx(fit_temperature(p, codes), rel=1e-6)
    ps, cs = p[score], codes[score]
    assert res["ece_before"] == pytest.approx(_ece(ps, cs), abs=1e-6)
    assert res["ece_after"] == pytest.approx(_ece(apply_temperature(ps, t), cs), abs=1e-6)
    assert res["nll_before"] == pytest.approx(nll(ps, cs), rel=1e-6)
    assert res["nll_after"] == pytest.approx(nll(ps, cs, t), rel=1e-6)
    # not the fitting error, which this test would tell apart
    fitted = _ece(apply_temperature(p[fit], t), codes[fit])
    assert res["ece_after"] != pytest.approx(fitted, abs=1e-6)
    assert (res["n_fit"], res["n_scored"], res["scored_on"]) == (
        200, 200, "patches not used for fitting")  # fmt: skip
    entry = read_manifest(tmp_path / "cal.lczmodel")["calibration"]
    assert entry["n"] == 200 and "fitting half: 200 of 400 patches, seed 0" in entry["fitted_on"]


def test_the_split_is_seeded(rf_model, sample_dir, tmp_path):
    data = sample_dir / "test.h5"
    _, codes = _raw(rf_model, data)
    a, b = split_for_scoring(codes, 0), split_for_scoring(codes, 0)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    other = split_for_scoring(codes, 7)
    assert not np.array_equal(a[0], other[0])
    res = calibrate_to_file(rf_model, data, tmp_path / "s7.lczmodel", seed=7)
    p, _ = _raw(rf_model, data)
    assert res["seed"] == 7
    assert res["temperature"] == pytest.approx(fit_temperature(p[other[0]], codes[other[0]]))


def test_too_few_patches_are_fitted_and_scored_on_all_and_it_says_so(rf_model, sample_dir,
                                                                     tmp_path):  # fmt: skip
    from helpers import write_h5

    from lcz_qgis.common.feedback import RecordingFeedback

    small = tmp_path / "small.h5"
    with So2SatFile(sample_dir / "test.h5") as f:  # the first 140 patches of the test file
        rows = np.arange(2 * MIN_PART - 60)
        write_h5(small, f.labels()[rows], sen2=f.read("sen2", rows))
    fb = RecordingFeedback()
    res = calibrate_to_file(rf_model, small, tmp_path / "c.lczmodel", feedback=fb)
    p, codes = _raw(rf_model, small)
    n = len(codes)
    assert split_for_scoring(codes, 0)[1] is None
    assert (res["n_fit"], res["n_scored"], res["scored_on"]) == (n, n, "the fitting patches")
    t = fit_temperature(p, codes)
    assert res["temperature"] == pytest.approx(t, rel=1e-9)
    assert res["ece_after"] == pytest.approx(_ece(apply_temperature(p, t), codes), abs=1e-6)
    assert len(fb.warnings) == 1
    assert f"only {n} usable patches in small.h5" in fb.warnings[0]
    assert "the ECE reported is the fitting error" in fb.warnings[0]
    assert any("(fitting error)" in m for m in fb.messages)
    entry = read_manifest(tmp_path / "c.lczmodel")["calibration"]
    assert entry == {"method": "temperature", "temperature": res["temperature"],
                     "fitted_on": f"small.h5 (all {n} patches)", "n": n}  # fmt: skip
