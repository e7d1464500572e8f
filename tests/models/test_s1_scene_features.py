"""The So2Sat ResNet-20s see exactly their authors' input.

Sentinel-1: the 7 features are computed on the whole scene by blocks of rows with a halo
(``sentinel.s1_scene_features``), the 3x3 boxcar wrapping around at the scene border as
the authors' ``np.roll`` boxcar does; ``lcz classify`` then gives, at every window, the
probabilities of the authors' pipeline (features of the whole scene, windows cut,
standardised with the scene statistics, predicted). Sentinel-2: DN rounded to float16
before and after the division by 10000 (``sen2_production_uil.getData``).

The authors' pipeline is rebuilt here independently (scipy's wrapping uniform filter,
their float32 steps, their statistics rules), not with the plugin's functions.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_raster
from scipy.ndimage import gaussian_filter, uniform_filter

from lcz_qgis.cli import main as lcz_main
from lcz_qgis.common.atomic import StagedOutputs
from lcz_qgis.common.bands import value_limit
from lcz_qgis.common.feedback import Feedback
from lcz_qgis.models import pretrained
from lcz_qgis.models.pretrained_import import import_pretrained
from lcz_qgis.raster.io import open_raster
from lcz_qgis.sentinel import s1_scene_features as s1f

EPS64, EPS32 = np.finfo(np.float64).eps, np.finfo(np.float32).eps


def continuous_s1(h: int, w: int, seed: int = 0) -> np.ndarray:
    """(h, w, 8) float32 So2Sat sen1 of a continuous scene: smoothly varying backscatter
    and VH/VV correlation, speckled complex values, Lee-like smoothed covariance."""
    rng = np.random.default_rng(seed)

    def field(sigma, lo, hi):
        f = gaussian_filter(rng.normal(size=(h, w)), sigma, mode="wrap")
        f = (f - f.min()) / (f.max() - f.min() + 1e-12)
        return lo + (hi - lo) * f

    def cgauss():
        return (rng.normal(size=(h, w)) + 1j * rng.normal(size=(h, w))) / np.sqrt(2)

    s_vh, s_vv = np.sqrt(field(4, 0.003, 0.08)), np.sqrt(field(4, 0.02, 0.4))
    rho = field(3, 0.1, 0.95)
    z1, z2 = cgauss(), cgauss()
    vh = s_vh * z1
    vv = s_vv * (rho * z1 + np.sqrt(1 - rho**2) * z2)
    c12 = vh * np.conj(vv)
    lee = [gaussian_filter(a, 1.0) for a in (abs(vh) ** 2, abs(vv) ** 2, c12.real, c12.imag)]
    chans = [vh.real, vh.imag, vv.real, vv.imag, *lee]
    return np.stack(chans, axis=-1).astype(np.float32)


def authors_features(sen1: np.ndarray):
    """The authors' getDataNormMStd on a whole scene (H, W, 8) float32, written anew:
    (features (H, W, 7) float64 with NaN outside the data mask, data mask, mean, std)."""
    data = np.moveaxis(sen1, -1, 0).copy()  # (8, H, W) float32, as GDAL reads a mosaic
    lee = data[4:]  # VH, VV, Re C12, Im C12 (their np.stack of the Lee mosaic's bands)
    mask = (lee[0] + lee[1]) > 0
    un = data[:4]
    un[np.isnan(un)] = 0
    cov = np.zeros(un.shape)  # float64, filled with float32 products as they do
    cov[0] = un[0] * un[0] + un[1] * un[1]
    cov[1] = un[2] * un[2] + un[3] * un[3]
    cov[2] = un[0] * un[2] + un[1] * un[3]
    cov[3] = un[1] * un[2] - un[0] * un[3]
    box = np.stack([uniform_filter(c, size=3, mode="wrap") for c in cov])  # np.roll boxcar
    vh, vv = cov[0].copy(), cov[1].copy()
    vh[vh == 0] = box[0][vh == 0]
    vv[vv == 0] = box[1][vv == 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        coh = np.sqrt(box[2] ** 2 + box[3] ** 2) / np.sqrt(box[1] * box[0])
        coh_lee = np.sqrt(lee[2] ** 2 + lee[3] ** 2) / np.sqrt(lee[1] * lee[0])  # float32
        pha = np.cos(np.arctan2(lee[3], lee[2]))  # float32

    def db(a, eps):  # dBFeatStat: zeros -> eps of the array's type, every mask pixel
        t = a[mask].copy()
        t[t == 0] = eps
        return 10 * np.log10(t), None

    def ratio(a):  # featStat: zeros -> eps; zeros and NaN left out of the statistics
        t = a[mask].copy()
        keep = (t != 0) & ~np.isnan(t)
        return t, keep

    parts = [db(vh, EPS64), db(vv, EPS64), ratio(coh), db(lee[0], EPS32), db(lee[1], EPS32)]
    parts += [ratio(coh_lee), ratio(pha)]
    feats = np.full(mask.shape + (7,), np.nan)
    mean, std = np.zeros(7), np.zeros(7)
    for k, (t, keep) in enumerate(parts):
        feats[mask, k] = t
        stat = t if keep is None else t[keep]
        mean[k], std[k] = np.mean(stat), np.std(stat)
    return feats, mask, mean, std


# -- (a) scene features by blocks = the whole-array computation, at every pixel --------
@pytest.mark.parametrize("block_rows", [1, 5, 64])
def test_scene_features_by_blocks_equal_the_whole_scene(tmp_path, block_rows):
    sen1 = continuous_s1(23, 37, seed=1)
    sen1[0, 5, 0] = np.nan  # a NaN pixel on the scene border: 0 in its neighbours' boxcar
    sen1[11, 36, 4:6] = 0.0  # no Lee intensity: outside the authors' data mask
    sen1[22, 17, 0:4] = 0.0  # a zero unfiltered pixel on the last row takes its 3x3 mean
    path = write_raster(tmp_path / "s1.tif", sen1)
    ds, info = open_raster(path)
    got = np.concatenate(
        [f for _, _, f in s1f.feature_blocks(ds, info, list(range(8)), 1e6, block_rows)]
    )
    want, mask, _, _ = authors_features(sen1)
    assert got.shape == (23, 37, 7) and got.dtype == np.float32
    # NaN: outside the authors' data mask, and (the plugin) pixels with a NaN channel
    invalid = ~mask | np.isnan(want).any(axis=-1) | np.isnan(sen1).any(axis=-1)
    assert (np.isnan(got).any(axis=-1) == invalid).all()
    assert invalid.sum() == 2 and invalid[0, 5] and invalid[11, 36]
    np.testing.assert_allclose(got[~invalid], want[~invalid], rtol=2e-6, atol=2e-6)
    # the border pixels see the opposite border (np.roll), not repeated edge pixels
    c11 = np.nan_to_num(sen1[..., 0]).astype(np.float64) ** 2 + sen1[..., 1] ** 2
    edge = uniform_filter(c11, size=3, mode="nearest")
    assert np.abs(edge[22, 17] - uniform_filter(c11, size=3, mode="wrap")[22, 17]) > 1e-4
    np.testing.assert_allclose(got[22, 17, 0], 10 * np.log10(want_box(c11)[22, 17]), rtol=1e-6)


def want_box(c: np.ndarray) -> np.ndarray:
    """The wrapping 3x3 mean, by explicit neighbour sums (a third, plain computation)."""
    h, w = c.shape
    out = np.zeros_like(c)
    for i in range(h):
        for j in range(w):
            out[i, j] = sum(c[(i + di) % h, (j + dj) % w] for di in (-1, 0, 1) for dj in (-1, 0, 1))
    return out / 9.0


def test_scene_statistics_are_the_authors(tmp_path):
    sen1 = continuous_s1(40, 33, seed=2)
    sen1[3, 3, 6:8] = 0.0  # a zero Lee coherence: left out of their statistics
    path = write_raster(tmp_path / "s1.tif", sen1)
    _, mask, mean, std = authors_features(sen1)
    for rows in (None, 3):
        got = s1f.scene_stats(path, block_rows=rows)
        assert got["pixels"] == mask.sum() == 40 * 33
        np.testing.assert_allclose(got["mean"], mean, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(got["std"], std, rtol=1e-5)
    assert pretrained.so2sat_s1_scene_stats(path)["mean"] == pytest.approx(got["mean"], 1e-12)


# -- (b) lcz classify --stride 1 = the authors' pipeline on the whole scene ---------------
@pytest.fixture(scope="module")
def s1_scene_model(shared_dir, tmp_path_factory):
    pytest.importorskip("tensorflow")  # builds the published network
    weights = shared_dir / "pretrained" / "so2sat_s1_resnet20.h5"
    if not weights.is_file():
        pytest.skip("the published S1 ResNet-20 is not in ../shared/pretrained")
    folder = tmp_path_factory.mktemp("s1_scene")
    sen1 = continuous_s1(48, 48, seed=3)
    scene = write_raster(folder / "scene.tif", sen1)
    model = folder / "s1.lczmodel"
    import_pretrained(model, weights=weights, sentinel1=scene)
    keras_model, _ = pretrained.load_published(weights)
    return folder, sen1, scene, model, keras_model


def _authors_probabilities(sen1, keras_model) -> np.ndarray:
    """(17, 17, 17) probabilities of every 32 x 32 window of the 48 x 48 scene."""
    feats, _, mean, std = authors_features(sen1)
    z = (feats - mean) / std
    idx = [(r, c) for r in range(17) for c in range(17)]
    patches = np.stack([z[r : r + 32, c : c + 32] for r, c in idx]).astype(np.float32)
    return np.asarray(keras_model(patches, training=False)).reshape(17, 17, 17)


def test_classify_gives_the_authors_probabilities_at_every_window(s1_scene_model):
    folder, sen1, scene, model, keras_model = s1_scene_model
    out, proba = folder / "map.tif", folder / "p.tif"
    args = ["classify", "--model", str(model), "--sentinel1", str(scene), "--stride", "1"]
    assert lcz_main([*args, "--probabilities", str(proba), "--output", str(out)]) == 0
    ds, _ = open_raster(proba)
    got = ds.read()[:, :17, :17].transpose(1, 2, 0)
    want = _authors_probabilities(sen1, keras_model)
    assert np.abs(got - want).max() < 1e-4
    # the features' temporary is gone
    assert sorted(p.name for p in folder.iterdir() if "partial" in p.name) == []
    # features per window (the boxcar inside each window) would have been far off
    step = lcz_qgis_model(model).manifest["preprocessing"][0]
    windows = np.stack([sen1[r : r + 32, c : c + 32] for r in range(17) for c in range(17)])
    per_window = pretrained.so2sat_s1_features(windows, mean=step["mean"], std=step["std"])
    p_window = np.asarray(keras_model(per_window, training=False)).reshape(17, 17, 17)
    assert np.abs(p_window - want).max() > 1e-3


def lcz_qgis_model(path):
    """The loaded model file."""
    import lcz_qgis

    return lcz_qgis.load_model(path)


def test_the_classifier_hook(s1_scene_model, tmp_path):
    folder, _, scene, model_path, _ = s1_scene_model
    model = lcz_qgis_model(model_path)
    step = model.manifest["preprocessing"][0]
    assert step["scene_features"] == s1f.SCENE_FEATURES_MARK
    from lcz_qgis.classify.inputs import open_sources

    sources = open_sources(model, None, scene, None, None, False, False, Feedback())
    st = StagedOutputs()
    messages = []

    class Fb(Feedback):
        def info(self, message):
            messages.append(message)

    # an earlier import (no mark) gets the scene features too, with a note
    del step["scene_features"]
    run_model, run_sources = s1f.scene_inputs(st, model, sources, tmp_path / "m.tif", Fb())
    assert any("imported by an earlier version" in m for m in messages)
    assert run_model.input_channels == 7 and model.input_channels == 8
    assert run_model.manifest["preprocessing"][0]["type"] == "standardize"
    assert run_sources[0].info.count == 7 and run_sources[0].limit == value_limit("sen1")
    # a model without the step is left alone
    other = lcz_qgis_model(model_path)
    other.manifest["preprocessing"] = []
    assert s1f.scene_inputs(st, other, sources, tmp_path / "m.tif") == (other, sources)
    st.discard()
    assert not list(tmp_path.iterdir())


# -- (c) Sentinel-2 ResNet-20: the authors' float16 rounding ------------------------------
def test_s2_resnet20_rounds_dn_to_float16_as_the_authors():
    dn = np.array([1, 7, 100, 1234, 1025, 2049, 2051, 4097, 4099, 9999, 12345, 15001])
    dn = np.resize(dn, (1, 32, 32, 10)).astype(np.uint16)
    # the authors' getData: matImg (float16) = np.float16(arr) / 10000.0
    authors = np.zeros(dn.shape, dtype=np.float16)
    authors[...] = np.float16(dn) / 10000.0
    # the classifier divides DN rasters by 10000 in float32 (block_reader)
    x = dn.astype(np.float32) * np.float32(1e-4)
    got = pretrained.so2sat_resnet20_s2_scaling(x)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, authors.astype(np.float32))
    # float16 rounds: 2049 -> 2048 (a tie, to even), 12345 -> 12344, 15001 -> 15000
    for v, r in [(2049, 0.2048), (12345, 1.2344), (15001, 1.5)]:
        k = np.nonzero(dn == v)
        assert np.allclose(got[k], r, rtol=1e-3) and (np.abs(got[k] - x[k]) > 5e-5).all()
    # reflectance stacks of whole DN give the same; the model file applies it
    np.testing.assert_array_equal(pretrained.so2sat_resnet20_s2_scaling(dn / 10000.0), got)
