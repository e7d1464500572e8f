"""classify_raster refuses bad rasters and a missing output folder with clear errors and
no output; a cancelled run keeps an existing output."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_raster

from lcz_qgis import load_model
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.common.errors import LczError


def _raster(path, w=64, h=64, bands=10, epsg=32632, px=10.0, crs=True):
    """A ``w`` x ``h`` float32 GeoTIFF of ``bands`` bands of 0.1 (``helpers.write_raster``)."""
    gt = (500000, px, 0, 5000000, 0, -px)
    return write_raster(path, np.full((h, w, bands), 0.1, np.float32), gt, epsg if crs else 0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"bands": 7}, "has 7 bands; the model needs 10"),
        ({"crs": False}, "no coordinate reference system"),
        ({"epsg": 4326, "px": 0.0001}, "geographic coordinates"),
        ({"px": 20.0}, "pixel size of 20 x 20"),
        ({"w": 20, "h": 40}, "smaller than one"),
    ],
)
def test_classify_bad_rasters_get_clear_errors_and_no_output(tmp_path, rf_model, kwargs, message):
    src = _raster(tmp_path / "in.tif", **kwargs)
    out = tmp_path / "map.tif"
    with pytest.raises(LczError, match=message):
        classify_raster(load_model(rf_model), out, sentinel2=src)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]


def test_classify_output_folder_must_exist(tmp_path, rf_model):
    src = _raster(tmp_path / "in.tif")
    with pytest.raises(LczError, match="does not exist"):
        classify_raster(load_model(rf_model), tmp_path / "no" / "map.tif", sentinel2=src)


def test_classify_cancel_leaves_nothing_and_keeps_an_existing_output(
    tmp_path, rf_model, sample_dir
):
    from lcz_qgis.common.errors import Cancelled
    from lcz_qgis.common.feedback import RecordingFeedback

    out = tmp_path / "map.tif"
    out.write_bytes(b"previous map")
    with pytest.raises(Cancelled):
        classify_raster(
            load_model(rf_model),
            out,
            sentinel2=sample_dir / "scene_s2.tif",
            feedback=RecordingFeedback(cancel_at=20),
        )
    assert out.read_bytes() == b"previous map"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]
