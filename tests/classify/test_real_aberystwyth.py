"""The real Aberystwyth Sentinel-2 scene (../shared/real/s2_imagery/aberystwyth_rsgislib:
EPSG:27700, surface reflectance x 1000 as ARCSI writes it) through classify with the
published Sen2LCZ-Net (../shared/pretrained), as issue 24 found it: 'auto' must not
divide by 10000 silently, and with the factor 0.001 the open sea is water (G, LCZ 17).
Skips when the shared files are absent."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from helpers import SHARED

from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.models.modelfile import load_model
from lcz_qgis.raster.io import read_lcz_map

SUBSET = SHARED / "real" / "s2_imagery" / "aberystwyth_rsgislib" / "sen2_20210527_aber_subset.tif"
WEIGHTS = SHARED / "pretrained" / "sen2lcznet_32_weights.best.hdf5"
STRIDE = 10  # 100 m cells; the subset is 339 x 324 pixels

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def sen2lcznet(tmp_path_factory):
    if not SUBSET.is_file() or not WEIGHTS.is_file():
        pytest.skip("the Aberystwyth scene or the Sen2LCZ-Net weights are not in ../shared")
    pytest.importorskip("tensorflow")
    from lcz_qgis.models.pretrained_import import import_pretrained

    path = tmp_path_factory.mktemp("aber") / "sen2lcznet.lczmodel"
    import_pretrained(path, weights=WEIGHTS, feedback=RecordingFeedback())
    return load_model(path)


def _sea_cells(shape) -> np.ndarray:
    """Cells whose whole 32 x 32 window is open water: on every pixel, near-infrared (B8,
    band 7) below 0.06 reflectance (60 as stored) and below green (B3, band 2)."""
    with rasterio.open(SUBSET) as ds:
        green, nir = (ds.read(b).astype(np.float64) for b in (2, 7))
    water = (nir < 60) & (green > nir)
    sea = np.zeros(shape, bool)
    for i in range(shape[0]):
        for j in range(shape[1]):
            win = water[i * STRIDE : i * STRIDE + 32, j * STRIDE : j * STRIDE + 32]
            sea[i, j] = win.shape == (32, 32) and win.all()
    return sea


def test_auto_warns_naming_0_001(sen2lcznet, tmp_path):
    fb = RecordingFeedback()
    res = classify_raster(
        sen2lcznet, tmp_path / "auto.tif", sentinel2=SUBSET, stride=STRIDE, feedback=fb
    )
    assert res.scale_factor == pytest.approx(1e-4)
    (w,) = [w for w in fb.warnings if "does not look like" in w]
    assert "reflectance x 1000" in w and "to 0.001" in w and "near-infrared (B8)" in w


def test_factor_0_001_maps_the_open_sea_as_water(sen2lcznet, tmp_path):
    fb = RecordingFeedback()
    res = classify_raster(
        sen2lcznet, tmp_path / "f.tif", sentinel2=SUBSET, stride=STRIDE, scale=0.001, feedback=fb
    )
    assert res.scale_factor == pytest.approx(1e-3)
    assert not [w for w in fb.warnings if "does not look like" in w]
    codes, info = read_lcz_map(tmp_path / "f.tif")
    assert "27700" in info.crs_description()  # British National Grid kept
    sea = _sea_cells(codes.shape)
    assert sea.sum() >= 20  # the premise: the subset's west is open sea
    assert (codes[sea] == 17).mean() >= 0.9
    land = (codes > 0) & ~sea
    assert (codes[land] == 15).mean() < 0.1  # not "all bare rock or paved"
    assert len(np.unique(codes[land])) >= 4  # town, suburbs, fields, woodland
