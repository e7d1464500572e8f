"""Absurd values and odd rasters: nodata, skipped patches or a clear error, never a traceback.

Values beyond the sensors' physical ranges (``bands.value_limit``: |x| > 1e5 for
Sentinel-2, 1e6 for Sentinel-1), e.g. an undeclared float32 nodata of -3.4e38, are
nodata in classification and skipped (counted) in training and evaluation; complex and
truncated rasters are refused with an error naming them.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from helpers import BrightnessModel, write_raster

from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cli import main
from lcz_qgis.common.bands import (
    SEN1_VALUE_LIMIT,
    SEN2_VALUE_LIMIT,
    channel_limits,
    patches_in_range,
    value_limit,
)
from lcz_qgis.common.errors import LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.evaluation.evaluate import evaluate_model
from lcz_qgis.models.features import patch_features
from lcz_qgis.raster.io import gdal, pixel_validity
from lcz_qgis.sample_data import write_sample_data
from lcz_qgis.sentinel import prepare_s1 as ps1
from lcz_qgis.training.train import train_model

F32_MIN = float(np.finfo(np.float32).min)  # -3.4e38, a common undeclared nodata
STRIDE = 8
N_TRAIN, N_TEST = 340, 340  # the smallest sample data (20 patches per class)


# -- helpers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Tiny So2Sat files (float64 sen1/sen2, one-hot labels): train, validation, test."""
    d = tmp_path_factory.mktemp("ranges")
    write_sample_data(d, seed=7, n_train=N_TRAIN, n_test=N_TEST)
    return d


def _read(path):
    with h5py.File(path, "r") as f:
        return f["sen1"][()], f["sen2"][()], f["label"][()]


def _write(path, s1, s2, label):
    with h5py.File(path, "w") as f:
        f["sen1"], f["sen2"], f["label"] = s1, s2, label
    return path


def _spoil(x):
    """Damage sen2 patches in ways a hostile or unlucky file does; return their rows."""
    x[[5, 40, 41]] = 3e38  # whole patches near the float32 maximum
    x[77, 3, 4, 2] = F32_MIN  # one pixel of one band: an undeclared nodata
    x[90, :, :, 0] = 1e30
    x[91, 0, 0, 9] = 2 * SEN2_VALUE_LIMIT  # just beyond the rule
    x[92, 10, 10, 1] = 1e300  # beyond float32 altogether (inf once read as float32)
    return [5, 40, 41, 77, 90, 91, 92]


@pytest.fixture(scope="module")
def files(data):
    """(bad, clean) pairs: the bad file holds spoiled patches, the clean one the same file
    without them; both keep DN-like values (9e4) that are inside the rule."""
    out = {}
    for name in ("train", "test"):
        s1, s2, label = _read(data / f"{name}.h5")
        s2[[10, 11]] *= 10000.0  # DN-scaled patches: warned about, never skipped
        s2[12, 0, 0, 0] = 0.9 * SEN2_VALUE_LIMIT
        bad_rows = _spoil(s2)
        keep = np.setdiff1d(np.arange(len(s2)), bad_rows)
        out[name] = (
            _write(data / f"{name}_bad.h5", s1, s2, label),
            _write(data / f"{name}_clean.h5", s1[keep], s2[keep], label[keep]),
            len(bad_rows),
        )
        huge = np.full_like(s2, 3e38)
        out[f"{name}_huge"] = _write(data / f"{name}_huge.h5", s1, huge, label)
    return out


def _cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and "Traceback" not in cap.out
    return rc, cap.out, cap.err


def _one_line_error(err: str, *needles: str) -> str:
    lines = [x for x in err.splitlines() if "error:" in x]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def _map(path):
    ds = gdal().Open(str(path))
    return ds.GetRasterBand(1).ReadAsArray()


# -- the rule ------------------------------------------------------------------------------


def test_the_rule_per_sensor_and_channel():
    assert value_limit("sen2") == SEN2_VALUE_LIMIT == 1e5  # DN (uint16, <= 65535) passes
    assert value_limit("sen1") == SEN1_VALUE_LIMIT == 1e6
    lim = channel_limits("fusion", [0, 7, 8, 17])  # S1 0-7, then S2
    np.testing.assert_array_equal(lim, np.float32([1e6, 1e6, 1e5, 1e5]))
    x = np.zeros((6, 32, 32, 4), np.float32)
    x[1, 0, 0, 0] = 5e5  # fine for Sentinel-1
    x[2, 0, 0, 2] = 5e5  # too large for Sentinel-2
    x[3, 5, 5, 3] = np.nan
    x[4, 1, 1, 1] = -np.inf
    x[5, 2, 2, 0] = -3e38
    assert patches_in_range(x, lim).tolist() == [True, True, False, False, False, False]
    assert patches_in_range(x[:0], lim).shape == (0,)


def test_pixel_validity_with_a_limit_matches_a_direct_check():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, (50, 40, 10)).astype(np.float32)
    x[::7, ::5, 3] = np.nan  # NaN only in some slabs
    x[20:24, 30:33, 1] = 1e30
    x[40, 0, 9] = -1.0001e5
    x[41, 1, 0] = 1e5  # on the limit: valid
    x[45:, 10, 4] = F32_MIN
    x[47:, 11] = 3e38  # every band: the channel sum overflows
    expect = (np.abs(x) <= np.float32(1e5)).all(axis=-1)  # False for NaN and inf
    np.testing.assert_array_equal(pixel_validity(x, [None] * 10, 1e5), expect)
    # without a limit, finite values stay valid whatever their size (as before)
    np.testing.assert_array_equal(pixel_validity(x, [None] * 10), np.isfinite(x).all(axis=-1))


def test_rf_features_stay_finite_for_huge_finite_values():
    x = np.full((3, 32, 32, 10), 0.1, np.float32)
    x[1, ::2] = 3e38
    x[1, 1::2] = -3e38  # differences and squares overflow float32
    x[2] = 1e30
    names = ["B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12"]
    f = patch_features(x, names)
    assert f.dtype == np.float32 and np.isfinite(f).all()
    # ordinary patches get the same (float32) features as alone
    np.testing.assert_array_equal(f[0], patch_features(x[:1], names)[0])


# -- (a) classification: such pixels are nodata ----------------------------------------------


def _windows_touching(block_rows, block_cols, n_cells):
    """Output cells (i, j) whose 32 x 32 window (stride STRIDE) holds a pixel of the block."""
    cells = set()
    for i in range(n_cells[0]):
        for j in range(n_cells[1]):
            r, c = i * STRIDE, j * STRIDE
            if any(r <= a < r + 32 for a in block_rows) and any(
                c <= b < c + 32 for b in block_cols
            ):
                cells.add((i, j))
    return cells


def test_classify_huge_blocks_are_nodata_and_the_rest_is_unchanged(tmp_path):
    rng = np.random.default_rng(0)
    clean = rng.uniform(0.02, 0.3, (96, 96, 10)).astype(np.float32)
    bad = clean.copy()
    bad[70:72, 10:12, 3] = 1e30  # one band
    bad[20:22, 80:82, :] = F32_MIN  # all bands: an undeclared -3.4e38 nodata
    write_raster(tmp_path / "clean.tif", clean)
    write_raster(tmp_path / "bad.tif", bad)  # no nodata declared
    fb = RecordingFeedback()
    classify_raster(BrightnessModel(), tmp_path / "clean_map.tif", tmp_path / "clean.tif",
                    stride=STRIDE)  # fmt: skip
    classify_raster(BrightnessModel(), tmp_path / "bad_map.tif", tmp_path / "bad.tif",
                    stride=STRIDE, feedback=fb)  # fmt: skip
    ref, got = _map(tmp_path / "clean_map.tif"), _map(tmp_path / "bad_map.tif")
    n_valid = ((96 - 32) // STRIDE + 1,) * 2
    spoiled = _windows_touching(range(70, 72), range(10, 12), n_valid)
    spoiled |= _windows_touching(range(20, 22), range(80, 82), n_valid)
    assert len(spoiled) == 8 + 6  # rows 5-8 x cols 0-1; rows 0-2 x cols 7-8
    assert (ref[: n_valid[0], : n_valid[1]] > 0).all()  # every window of the clean map
    for i, j in np.ndindex(*ref.shape):
        assert got[i, j] == (0 if (i, j) in spoiled else ref[i, j]), (i, j)
    assert not any("DN" in w for w in fb.warnings)  # the scale sample ignores them too


def test_cli_classify_with_an_rf_model_and_an_undeclared_nodata(rf_model, tmp_path, capsys):
    rng = np.random.default_rng(1)
    arr = rng.uniform(0.02, 0.3, (64, 64, 10)).astype(np.float32)
    arr[:, 40:] = F32_MIN  # the right part: nodata nobody declared
    src = write_raster(tmp_path / "s2.tif", arr)
    out = tmp_path / "map.tif"
    rc, _, err = _cli(capsys, "classify", "--model", rf_model, "--sentinel2", src,
                      "--output", out, "--stride", STRIDE)  # fmt: skip
    assert rc == 0, err
    m = _map(out)
    # windows reaching column 40 (j * 8 + 31 >= 40, i.e. j >= 2) are 0, the others classified
    assert (m[:5, :2] > 0).all() and (m[:, 2:] == 0).all()


# -- (b, c) training and evaluation: such patches are skipped and counted ----------------------


def test_rf_training_skips_them_and_equals_training_without_them(files, tmp_path):
    bad, clean, n_bad = files["train"]
    val = files["test"][1]
    fb = RecordingFeedback()
    r_bad = train_model(bad, tmp_path / "bad.lczmodel", "rf", "sen2", validation=val, feedback=fb)
    r_clean = train_model(clean, tmp_path / "clean.lczmodel", "rf", "sen2", validation=val)
    assert any(f"skipped {n_bad} of {N_TRAIN} training patches" in w and "physical range" in w
               for w in fb.warnings), fb.warnings  # fmt: skip
    assert any("DN-scaled" in w for w in fb.warnings)  # DN values: a warning, not skipped
    assert r_bad.manifest["training"]["n_train"] == N_TRAIN - n_bad
    assert r_bad.scores == r_clean.scores and r_bad.scores["oa"] > 0.3
    # evaluation: the same model scores the spoiled file as the file without those patches
    tbad, tclean, t_n = files["test"]
    fb = RecordingFeedback()
    s_bad = evaluate_model(r_bad.path, tbad, fb)
    s_clean = evaluate_model(r_bad.path, tclean)
    assert s_bad["n_skipped"] == t_n and s_clean["n_skipped"] == 0
    assert s_bad["n"] == s_clean["n"] == N_TEST - t_n
    assert s_bad["confusion"] == s_clean["confusion"]
    for k in ("oa", "kappa", "macro_f1", "oa_w", "loss"):
        assert s_bad[k] == s_clean[k]
    assert any(f"skipped {t_n} of {N_TEST} patches" in w for w in fb.warnings), fb.warnings


def test_all_huge_files_are_clear_errors(files, rf_model, tmp_path):
    with pytest.raises(
        LczError, match=r"all \d+ training patches of .train_huge.h5. .*physical range"
    ):
        train_model(files["train_huge"], tmp_path / "m.lczmodel", "rf", "sen2")
    assert not (tmp_path / "m.lczmodel").exists()
    with pytest.raises(
        LczError, match=f"all {N_TEST} patches of 'test_huge.h5' .*nothing to score"
    ):
        evaluate_model(rf_model, files["test_huge"])


def test_cli_train_and_evaluate_never_trace_back(files, tmp_path, capsys):
    bad, _, n_bad = files["train"]
    model = tmp_path / "m.lczmodel"
    rc, _, err = _cli(capsys, "train", "--train", bad, "--validation", files["test"][1],
                      "--output", model)  # fmt: skip
    assert rc == 0, err
    assert f"skipped {n_bad} of {N_TRAIN} training patches" in err
    js = tmp_path / "s.json"
    rc, _, err = _cli(capsys, "evaluate", "--model", model, "--dataset", files["test"][0],
                      "--output-json", js)  # fmt: skip
    assert rc == 0, err
    assert json.loads(js.read_text())["n_skipped"] == files["test"][2]
    rc, _, err = _cli(capsys, "train", "--train", files["train_huge"], "--output",
                      tmp_path / "h.lczmodel")  # fmt: skip
    assert rc == 2
    _one_line_error(err, "train_huge.h5", "physical range")
    rc, _, err = _cli(capsys, "evaluate", "--model", model, "--dataset", files["test_huge"])
    assert rc == 2
    _one_line_error(err, "test_huge.h5", "nothing to score")


def test_keras_normalisation_ignores_skipped_patches(files, tmp_path):
    pytest.importorskip("tensorflow")
    from lcz_qgis.common.feedback import Feedback
    from lcz_qgis.training.data_statistics import channel_statistics
    from lcz_qgis.training.keras_training import train_keras

    bad, clean, n_bad = files["train"]
    bands = list(range(10))
    m_bad, s_bad, skipped = channel_statistics(bad, "sen2", bands, np.arange(N_TRAIN), Feedback())
    m_clean, s_clean, none = channel_statistics(clean, "sen2", bands, np.arange(N_TRAIN - n_bad),
                                                Feedback())  # fmt: skip
    assert skipped.tolist() == [5, 40, 41, 77, 90, 91, 92] and none.size == 0
    np.testing.assert_allclose(m_bad, m_clean, rtol=1e-6)
    np.testing.assert_allclose(s_bad, s_clean, rtol=1e-6)
    fb = RecordingFeedback()
    res = train_keras(bad, tmp_path / "k.lczmodel", "mlp", "sen2", bands,
                      validation=files["test"][0], feedback=fb, epochs=1,
                      batch_size=32)  # fmt: skip
    t = res.manifest["training"]
    assert t["n_skipped_nonfinite"] == n_bad and t["n_train"] == N_TRAIN - n_bad
    assert t["n_validation_skipped_nonfinite"] == files["test"][2]
    assert np.isfinite(res.scores["loss"])


# -- (d, e) complex and truncated rasters ---------------------------------------------------


def _complex_raster(path, bands):
    g = gdal()
    ds = g.GetDriverByName("GTiff").Create(str(path), 40, 40, bands, g.GDT_CFloat32)
    ds.SetGeoTransform((690000.0, 10.0, 0.0, 5340000.0, 0.0, -10.0))
    from helpers import epsg_wkt as _wkt

    ds.SetProjection(_wkt(32632))
    for k in range(bands):
        ds.GetRasterBand(k + 1).WriteArray(np.full((40, 40), 0.1 + 0.2j, np.complex64))
    ds = None
    return path


def test_complex_rasters_are_refused(tmp_path, capsys):
    c2 = _complex_raster(tmp_path / "c2.tif", 10)
    with pytest.raises(LczError, match=r"band 1 of 'c2.tif' is complex \(CFloat32\); give a real"):
        classify_raster(BrightnessModel(), tmp_path / "map.tif", sentinel2=c2)
    ref = write_raster(tmp_path / "ref.tif", np.full((40, 40, 2), 0.1, np.float32))
    vv = _complex_raster(tmp_path / "vv.tif", 1)
    vh = write_raster(tmp_path / "vh.tif", np.full((40, 40, 1), 0.01, np.float32))
    with pytest.raises(LczError, match=r"'vv.tif' is complex \(CFloat32\).*amplitude"):
        ps1.prepare_sentinel1(vv, vh, ref, tmp_path / "s1.tif")
    rc, _, err = _cli(capsys, "render", "--input", c2, "--product", "ndvi",
                      "--output", tmp_path / "ndvi.tif")  # fmt: skip
    assert rc == 2
    _one_line_error(err, "c2.tif", "complex")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c2.tif", "ref.tif", "vh.tif", "vv.tif"]  # fmt: skip


def test_complex_band_file_in_prepare_s2_is_refused(tmp_path):
    from helpers import ORIGIN, make_safe
    from helpers import band_file as _band_file

    from lcz_qgis.sentinel.prepare_s2 import prepare_sentinel2

    safe = make_safe(tmp_path, size10=64)
    b11 = _band_file(safe, "B11")  # 20 m: 32 x 32, replaced by a complex one (same name)
    g = gdal()
    b11.unlink()
    ds = g.GetDriverByName("GTiff").Create(str(b11), 32, 32, 1, g.GDT_CInt16)
    ds.SetGeoTransform((ORIGIN[0], 20.0, 0.0, ORIGIN[1], 0.0, -20.0))
    from helpers import epsg_wkt as _wkt

    ds.SetProjection(_wkt(32632))
    ds.GetRasterBand(1).WriteArray(np.full((32, 32), 2000 + 5j, np.complex64))
    ds = None
    with pytest.raises(LczError, match=rf"band 1 of '{b11.name}' is complex \(CInt16\)"):
        prepare_sentinel2(safe, tmp_path / "o.tif")
    assert not (tmp_path / "o.tif").exists()


def test_prepare_s1_huge_values_are_nodata(tmp_path):
    rng = np.random.default_rng(2)
    lin = rng.gamma(4.4, 1 / 4.4, (64, 64)).astype(np.float32) * 0.05
    vv = lin.copy()
    vv[:16] = 1e30  # top rows: nonsense
    vv[16:20, :8] = F32_MIN  # undeclared nodata
    ref = write_raster(tmp_path / "ref.tif", np.full((64, 64, 2), 0.1, np.float32))
    p_vv = write_raster(tmp_path / "vv.tif", vv[..., None])
    p_vh = write_raster(tmp_path / "vh.tif", lin[..., None])
    ps1.prepare_sentinel1(p_vv, p_vh, ref, tmp_path / "s1.tif", input_scale="linear")
    ds = gdal().Open(str(tmp_path / "s1.tif"))
    out_vv = ds.GetRasterBand(2).ReadAsArray()
    assert (out_vv[:16] == ps1.NODATA).all() and (out_vv[16:20, :8] == ps1.NODATA).all()
    rest = out_vv[20:]
    assert (rest > 0).all() and rest.max() < 1  # no huge value leaked through the filter


def test_truncated_vv_in_prepare_s1_is_a_clear_error(tmp_path, capsys):
    rng = np.random.default_rng(4)
    vv = (rng.gamma(4.4, 1 / 4.4, (512, 512)) * 0.05).astype(np.float32)
    g = gdal()
    full = write_raster(tmp_path / "full.tif", vv[..., None])
    ds = g.Translate(str(tmp_path / "tiled.tif"), str(full),
                     creationOptions=["TILED=YES", "COMPRESS=DEFLATE"])  # fmt: skip
    del ds
    data = (tmp_path / "tiled.tif").read_bytes()
    cut = tmp_path / "cut_vv.tif"
    cut.write_bytes(data[: int(len(data) * 0.6)])  # header intact, tiles missing
    ref = write_raster(tmp_path / "ref.tif", np.full((512, 512, 2), 0.1, np.float32))
    out = tmp_path / "s1.tif"
    with pytest.raises(LczError, match="cannot read 'cut_vv.tif'.*damaged or incomplete"):
        ps1.prepare_sentinel1(cut, full, ref, out, input_scale="linear")
    assert not out.exists()
    rc, _, err = _cli(capsys, "prepare-s1", "--vv", cut, "--vh", full, "--reference", ref,
                      "--output", out)  # fmt: skip
    assert rc == 2
    _one_line_error(err, "cut_vv.tif", "damaged or incomplete")
    assert not out.exists()
