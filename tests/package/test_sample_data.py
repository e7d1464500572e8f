"""The synthetic sample data (lcz_qgis.sample_data): So2Sat-format files and the sample city."""

from __future__ import annotations

import h5py
import numpy as np

from lcz_qgis.sample_data import class_counts_for, write_so2sat_file
from lcz_qgis.so2sat.file import So2SatFile


def test_sample_files_are_so2sat_format_deterministic_and_imbalanced(tmp_path):
    a = write_so2sat_file(tmp_path / "a.h5", 400, seed=3)
    b = write_so2sat_file(tmp_path / "b.h5", 400, seed=3)
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert fa["sen2"].dtype == np.float64 and fa["sen1"].shape == (400, 32, 32, 8)
        np.testing.assert_array_equal(fa["sen2"][:5], fb["sen2"][:5])
    with So2SatFile(a) as f:
        counts = f.class_counts()
        assert (counts > 0).all() and counts.sum() == 400
        assert counts.max() >= 2 * counts.min()  # imbalanced, like So2Sat
        assert counts.tolist() == class_counts_for(400).tolist()
        s2 = f.read("sen2", np.arange(50))
        assert 0.0 <= s2.min() and s2.max() < 1.5  # reflectance, So2Sat scale


def test_sample_scene_is_georeferenced(sample_dir):
    from osgeo import gdal

    ds = gdal.Open(str(sample_dir / "scene_s2.tif"))
    assert ds.RasterCount == 10 and ds.RasterXSize == 512
    assert ds.GetGeoTransform() == (690000.0, 10.0, 0.0, 5340000.0, 0.0, -10.0)
    assert "32632" in ds.GetSpatialRef().GetAuthorityCode(None)
    assert ds.GetRasterBand(1).GetNoDataValue() == -9999.0
    assert ds.GetRasterBand(7).GetDescription() == "B8"
    assert gdal.Open(str(sample_dir / "scene_s1.tif")).RasterCount == 8
    truth = gdal.Open(str(sample_dir / "scene_truth.tif")).ReadAsArray()
    assert set(np.unique(truth)) == set(range(1, 18))
