"""classify: inputs and outputs that would lose data or mislead, caught before writing."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import BrightnessModel, write_raster

from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cli import main as lcz_main
from lcz_qgis.common.errors import LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.raster.io import gdal


@pytest.fixture()
def s2(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.uniform(0.02, 0.3, (96, 96, 10)).astype(np.float32)
    return write_raster(tmp_path / "s2.tif", arr)


def test_output_that_is_the_input_is_refused_and_the_input_kept(s2, tmp_path):
    before = s2.read_bytes()
    with pytest.raises(LczError, match="is the input sentinel2"):
        classify_raster(BrightnessModel(), s2, sentinel2=s2)
    link = tmp_path / "link.tif"
    os.symlink(s2, link)  # the same file under another name
    with pytest.raises(LczError, match="destroy the input"):
        classify_raster(BrightnessModel(), link, sentinel2=s2)
    assert s2.read_bytes() == before


def test_outputs_sharing_a_file_or_a_style_file_are_refused(s2, tmp_path):
    m = tmp_path / "m.tif"
    with pytest.raises(LczError, match="output .* and confidence .* the same file"):
        classify_raster(BrightnessModel(), m, sentinel2=s2, confidence=m)
    with pytest.raises(LczError, match="the same .qml style file"):
        classify_raster(BrightnessModel(), m, sentinel2=s2, confidence=tmp_path / "m.tiff")
    with pytest.raises(LczError, match="give it a .tif name"):
        classify_raster(BrightnessModel(), tmp_path / "map.png", sentinel2=s2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s2.tif"]


def test_cli_refuses_an_output_given_twice_before_writing(rf_model, s2, tmp_path, capsys):
    a = tmp_path / "a.tif"
    code = lcz_main(["classify", "--model", str(rf_model), "--sentinel2", str(s2), str(s2),
                     "--output", str(a), str(a)])  # fmt: skip
    assert code == 2 and "would write the same file" in capsys.readouterr().err
    # a loop over cities: run 1's output is run 2's input
    b = tmp_path / "b.tif"
    b.write_bytes(s2.read_bytes())
    before = b.read_bytes()
    code = lcz_main(["classify", "--model", str(rf_model), "--sentinel2", str(s2), str(b),
                     "--output", str(b), str(tmp_path / "c.tif")])  # fmt: skip
    assert code == 2 and "is the input --sentinel2" in capsys.readouterr().err
    assert b.read_bytes() == before
    code = lcz_main(["classify", "--model", str(rf_model), "--sentinel2", str(s2),
                     str(tmp_path / "missing.tif"), "--output", str(a), str(tmp_path / "b.tif")])  # fmt: skip
    assert code == 2 and "missing.tif' does not exist" in capsys.readouterr().err
    code = lcz_main(["classify", "--model", str(rf_model), "--sentinel2", str(s2),
                     "--extent", "1,2,3,4,5", "--output", str(a)])  # fmt: skip
    assert code == 2 and "xmin,ymin,xmax,ymax" in capsys.readouterr().err
    assert not a.exists()


def test_truncated_raster_is_a_clear_error_and_the_old_map_survives(s2, tmp_path):
    ds = gdal().Translate(str(tmp_path / "full.tif"), str(s2), creationOptions=["TILED=YES"])
    del ds  # closed: written to disk
    data = (tmp_path / "full.tif").read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[: int(len(data) * 0.6)])  # header intact, tiles missing
    out = tmp_path / "map.tif"
    out.write_bytes(b"old map")
    with pytest.raises(LczError, match="cannot read 'cut.tif'.*damaged or incomplete"):
        classify_raster(BrightnessModel(), out, sentinel2=cut)
    assert out.read_bytes() == b"old map"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cut.tif",
        "full.tif",
        "map.tif",
        "s2.tif",
    ]


def test_unwritable_folder_of_any_output_fails_before_the_map_is_replaced(
    s2, tmp_path, monkeypatch
):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # the tests run as root, for whom every folder is writable: simulate a read-only one
    monkeypatch.setattr(
        os, "access", lambda p, mode: str(p) != str(locked) and real_access(p, mode)
    )
    out = tmp_path / "map.tif"
    out.write_bytes(b"old map")
    with pytest.raises(LczError, match="cannot write to the folder"):
        classify_raster(BrightnessModel(), out, sentinel2=s2, map_image=locked / "map.png")
    assert out.read_bytes() == b"old map"


def test_sentinel1_without_crs_on_the_grid_is_a_clear_error(fusion_model, s2, tmp_path):  # noqa: F811
    s1 = write_raster(tmp_path / "s1.tif", np.full((96, 96, 2), 0.05, np.float32), epsg=None)
    with pytest.raises(LczError, match="no coordinate reference system"):
        classify_raster(fusion_model, tmp_path / "m.tif", sentinel2=s2, sentinel1=s1)


def test_sentinel1_in_db_warns_with_the_range(fusion_model, s2, tmp_path):  # noqa: F811
    rng = np.random.default_rng(1)
    db = rng.uniform(-25, -5, (96, 96, 2)).astype(np.float32)
    s1 = write_raster(tmp_path / "s1db.tif", db)
    fb = RecordingFeedback()
    classify_raster(fusion_model, tmp_path / "m.tif", sentinel2=s2, sentinel1=s1, feedback=fb)
    assert any("looks like dB" in w and "-2" in w for w in fb.warnings)
    lin = write_raster(tmp_path / "s1lin.tif", 10 ** (db / 10))
    fb = RecordingFeedback()
    classify_raster(fusion_model, tmp_path / "m2.tif", sentinel2=s2, sentinel1=lin, feedback=fb)
    assert not any("dB" in w for w in fb.warnings)


def test_unused_sentinel1_is_reported_and_a_product_is_sent_to_prepare(s2, tmp_path):
    s1 = write_raster(tmp_path / "s1.tif", np.full((96, 96, 2), 0.05, np.float32))
    fb = RecordingFeedback()
    classify_raster(BrightnessModel(), tmp_path / "m.tif", sentinel2=s2, sentinel1=s1, feedback=fb)
    assert any("uses no Sentinel-1 data" in w and "s1.tif" in w for w in fb.warnings)
    safe = tmp_path / "S2A_MSIL2A_20230715T102559_N0509_R065_T32TPT_20230715T150000.SAFE"
    safe.mkdir()
    with pytest.raises(LczError, match="Prepare Sentinel-2 product"):
        classify_raster(BrightnessModel(), tmp_path / "x.tif", sentinel2=safe)


def test_pixel_size_in_feet_and_a_non_finite_resolution_are_refused(s2, tmp_path):
    arr = np.full((96, 96, 10), 0.1, np.float32)
    # 10 US survey feet (3 m) pixels in NAD83 / New York Long Island: not 10 m
    feet = write_raster(tmp_path / "ft.tif", arr, gt=(980000, 10, 0, 200000, 0, -10), epsg=2263)
    with pytest.raises(LczError, match="non-metre units"):
        classify_raster(BrightnessModel(), tmp_path / "x.tif", sentinel2=feet)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(LczError, match="resolution must be a number"):
            classify_raster(BrightnessModel(), tmp_path / "x.tif", sentinel2=s2, resolution=bad)
    assert not (tmp_path / "x.tif").exists()


def test_cli_reports_a_refused_write_without_a_traceback(
    rf_model, s2, tmp_path, capsys, monkeypatch
):
    import lcz_qgis.classify.pipeline as classify_module

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "m.tif"))

    monkeypatch.setattr(classify_module, "write_lcz_qml", refuse)
    code = lcz_main(["classify", "--model", str(rf_model), "--sentinel2", str(s2),
                     "--output", str(tmp_path / "m.tif")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "Permission denied" in err and "m.tif" in err


def test_extent_in_another_crs_is_mapped_onto_the_grid(s2, tmp_path):
    from lcz_qgis.raster.io import osr

    o = osr()
    utm, wgs = o.SpatialReference(), o.SpatialReference()
    utm.ImportFromEPSG(32632)
    wgs.ImportFromEPSG(4326)
    for srs in (utm, wgs):
        srs.SetAxisMappingStrategy(o.OAMS_TRADITIONAL_GIS_ORDER)
    # the left half of the raster (x 690000-690480 m), as lon/lat bounds
    box = o.CoordinateTransformation(utm, wgs).TransformBounds(690000, 5339040, 690480, 5340000, 21)
    full = classify_raster(BrightnessModel(), tmp_path / "a.tif", sentinel2=s2, stride=8)
    half = classify_raster(BrightnessModel(), tmp_path / "h.tif", sentinel2=s2, stride=8,
                           extent=box, extent_crs="EPSG:4326")  # fmt: skip
    assert 0.3 * full.windows_valid < half.windows_valid < 0.7 * full.windows_valid
    with pytest.raises(LczError, match="does not overlap"):
        classify_raster(BrightnessModel(), tmp_path / "x.tif", sentinel2=s2,
                        extent=(2.0, 48.0, 2.1, 48.1), extent_crs="EPSG:4326")  # fmt: skip
