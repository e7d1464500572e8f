"""Streaming classification: predictions, geometry, fusion, options, outputs and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import BrightnessModel, make_safe, write_raster

from lcz_qgis.classify.area_table import read_area_csv
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cli import main as lcz_main
from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.models.modelfile import load_model
from lcz_qgis.raster.io import gdal, osr
from lcz_qgis.sentinel.prepare_s2 import prepare_sentinel2


def read(path):
    ds = gdal().Open(str(path))
    return ds, ds.ReadAsArray()


def window(path, r, c, bands=None):
    """The 32 x 32 window with upper-left pixel (r, c), read with GDAL, (1, 32, 32, C)."""
    ds = gdal().Open(str(path))
    x = ds.ReadAsArray(int(c), int(r), 32, 32).astype(np.float32)
    x = x[None] if x.ndim == 2 else x
    if bands is not None:
        x = x[bands]
    return x.transpose(1, 2, 0)[None]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    d = tmp_path_factory.mktemp("prep")
    safe = make_safe(d, size10=160)
    out = d / "s2.tif"
    prepare_sentinel2(safe, out)
    return out


@pytest.fixture(scope="module")
def rf(rf_model):
    return load_model(rf_model)


def test_prepared_product_map_equals_independent_predictions(rf, prepared, tmp_path):
    out, conf, prob = tmp_path / "map.tif", tmp_path / "conf.tif", tmp_path / "p.tif"
    fb = RecordingFeedback()
    res = classify_raster(
        rf, out, sentinel2=prepared, stride=8, confidence=conf, probabilities=prob, feedback=fb
    )
    ds, codes = read(out)
    _, cf = read(conf)
    _, pr = read(prob)
    assert codes.dtype == np.uint8 and pr.shape[0] == 17
    # georeference: cell centre = window centre, pixel = stride x input pixel
    sgt = gdal().Open(str(prepared)).GetGeoTransform()
    gt = ds.GetGeoTransform()
    assert gt[1] == 80.0 and gt[5] == -80.0
    for i, j in ((0, 0), (3, 7), (15, 2)):
        cx, cy = gt[0] + (j + 0.5) * gt[1], gt[3] + (i + 0.5) * gt[5]
        assert cx == pytest.approx(sgt[0] + (j * 8 + 16) * 10.0)
        assert cy == pytest.approx(sgt[3] - (i * 8 + 16) * 10.0)
    assert ds.GetProjection() == gdal().Open(str(prepared)).GetProjection()
    # sampled cells: the map is the model's prediction on the centred window
    rng = np.random.default_rng(0)
    checked = 0
    for i, j in zip(
        rng.integers(0, res.grid.valid_rows, 40), rng.integers(0, res.grid.valid_cols, 40)
    ):
        x = window(prepared, i * 8, j * 8)
        if (x == -9999).any():
            assert codes[i, j] == 0 and cf[i, j] == -1
            continue
        p = rf.predict_proba(x)[0]
        assert codes[i, j] == np.argmax(p) + 1
        assert cf[i, j] == pytest.approx(p.max(), abs=1e-6)
        np.testing.assert_allclose(pr[:, i, j], p, atol=1e-6)
        checked += 1
    assert checked >= 20
    # nodata corner (DN 0) and the SCL cloud (rows/cols 40-55) make 0 cells
    assert codes[0, 0] == 0  # window rows 0-31, cols 0-31 hold the DN-0 corner
    assert codes[5, 5] == 0  # window 40-71 x 40-71 holds the cloud
    assert (codes[res.grid.valid_rows :, :] == 0).all()  # windows leaving the raster
    # progress counts windows, ends at 100
    assert fb.percents[-1] == 100 and all(np.diff(fb.percents) >= -1e-9)
    assert res.windows_valid == int((codes > 0).sum())


def test_fusion_with_misaligned_sentinel1(fusion_model, sample_dir, tmp_path):
    g = gdal()
    s2 = sample_dir / "scene_s2.tif"
    # S1 intensities (So2Sat channels 5, 6) in another CRS and pixel size (Web Mercator, 15 m)
    s1 = tmp_path / "s1_3857.tif"
    g.Warp(str(s1), str(sample_dir / "scene_s1.tif"), dstSRS="EPSG:3857", xRes=15, yRes=15,
           resampleAlg="bilinear", srcNodata=-9999, dstNodata=-9999)  # fmt: skip
    s1_2 = tmp_path / "s1_vhvv.tif"
    g.Translate(str(s1_2), str(s1), bandList=[5, 6])
    out = tmp_path / "fusion.tif"
    fb = RecordingFeedback()
    res = classify_raster(
        fusion_model, out, sentinel2=s2, sentinel1=s1_2, stride=16, feedback=fb,
        extent=(690000 + 1200, 5340000 - 4000, 690000 + 4000, 5340000 - 1200),
    )  # fmt: skip
    assert any("onto the Sentinel-2 grid" in m for m in fb.messages)
    assert not list(tmp_path.glob("*.vrt"))  # warped in memory, no copy on disk
    _, codes = read(out)
    # independent expectation: warp S1 onto the S2 grid ourselves, predict centred windows
    ref = g.Open(str(s2))
    aligned = tmp_path / "aligned.tif"
    g.Warp(str(aligned), str(s1_2), dstSRS=ref.GetProjection(), outputBounds=(690000, 5334880, 695120, 5340000),
           width=512, height=512, resampleAlg="bilinear", srcNodata=-9999, dstNodata=-9999)  # fmt: skip
    checked = 0
    for i, j in ((10, 10), (12, 20), (20, 14), (22, 22), (15, 17)):
        x = np.concatenate([window(aligned, i * 16, j * 16), window(s2, i * 16, j * 16)], axis=-1)
        assert not (x == -9999).any()
        assert codes[i, j] == fusion_model.predict(x)[0]
        checked += 1
    assert checked == 5
    # cells outside the extent are 0, inside are classified
    assert codes[2, 2] == 0 and codes[-3, -3] == 0 and (codes[10:20, 10:20] > 0).all()
    assert res.windows_valid == int((codes > 0).sum())
    # S1 far away: clear error
    far = write_raster(
        tmp_path / "far.tif", np.ones((64, 64, 2), np.float32), gt=(100000, 10, 0, 100000, 0, -10)
    )
    with pytest.raises(LczError, match="do not overlap"):
        classify_raster(fusion_model, tmp_path / "x.tif", sentinel2=s2, sentinel1=far)
    with pytest.raises(LczError, match="Sentinel-1"):
        classify_raster(fusion_model, tmp_path / "x.tif", sentinel2=s2)


def test_area_table_map_image_and_filters(rf, sample_dir, tmp_path):
    s2 = sample_dir / "scene_s2.tif"
    maps = {}
    for method in ("none", "majority", "gaussian"):
        out = tmp_path / f"map_{method}.tif"
        csv = tmp_path / f"area_{method}.csv"
        png = tmp_path / f"map_{method}.png"
        res = classify_raster(rf, out, sentinel2=s2, filter=method, area_table=csv, map_image=png, stride=16,
                              confidence=tmp_path / f"c_{method}.tif", confidence_format="byte")  # fmt: skip
        _, codes = read(out)
        maps[method] = codes
        rows = read_area_csv(csv)
        assert [r["code"] for r in rows] == list(range(1, 18))
        valid = int((codes > 0).sum())
        assert sum(r["cells"] for r in rows) == valid
        assert sum(r["area_km2"] for r in rows) == pytest.approx(valid * 0.0256, abs=1e-3)
        assert sum(r["percent"] for r in rows) == pytest.approx(100.0, abs=0.05)
        assert png.stat().st_size > 10000 and png.read_bytes()[:4] == b"\x89PNG"
        _, c = read(tmp_path / f"c_{method}.tif")
        assert c.dtype == np.uint8 and c[codes == 0].tolist() == [255] * int((codes == 0).sum())
        assert (c[codes > 0] <= 100).all()
        assert res.valid_cells == valid
        assert not list(tmp_path.glob("*lcz-partial*"))  # temporaries (the filter's too) removed
    # the filters keep nodata where it was and change some cells, not most
    for method in ("majority", "gaussian"):
        assert ((maps[method] == 0) == (maps["none"] == 0)).all()
        changed = (maps[method] != maps["none"]).mean()
        assert 0 < changed < 0.3


def test_dn_scaled_input_warns_with_range(rf, sample_dir, tmp_path):
    g = gdal()
    src = g.Open(str(sample_dir / "scene_s2.tif")).ReadAsArray().transpose(1, 2, 0)
    dn = np.where(src == -9999, 0, np.maximum(np.rint(src * 10000), 1)).astype(np.uint16)
    dn_path = write_raster(tmp_path / "dn.tif", dn, nodata=0, gtype=g.GDT_UInt16)
    ext = (690000 + 640, 5340000 - 2560, 690000 + 2560, 5340000 - 640)
    ref_out = tmp_path / "ref.tif"
    classify_raster(rf, ref_out, sentinel2=sample_dir / "scene_s2.tif", extent=ext)
    fb = RecordingFeedback()
    out = tmp_path / "dn_map.tif"
    res = classify_raster(rf, out, sentinel2=dn_path, feedback=fb, extent=ext)
    assert res.scale_factor == pytest.approx(1e-4)
    assert any("DN-scaled" in w and "percentile" in w for w in fb.warnings), fb.warnings
    a, b = read(ref_out)[1], read(out)[1]
    assert (a > 0).sum() > 100 and (a == b).mean() > 0.97
    fb2 = RecordingFeedback()
    classify_raster(rf, tmp_path / "wrong.tif", sentinel2=dn_path, scale="reflectance",
                    feedback=fb2, extent=ext)  # fmt: skip
    w = " ".join(fb2.warnings)
    assert "looks DN-scaled" in w and "to" in w and "predictions will be wrong" in w


def test_band_mapping_nan_and_wrong_band_count(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.uniform(0, 0.3, (96, 96, 10)).astype(np.float32)
    arr[50, 50, 3] = np.nan
    model = BrightnessModel()
    p1 = write_raster(tmp_path / "a.tif", arr)
    p2 = write_raster(tmp_path / "rev.tif", arr[..., ::-1].copy())
    classify_raster(model, tmp_path / "a_map.tif", sentinel2=p1, stride=4)
    classify_raster(
        model, tmp_path / "b_map.tif", sentinel2=p2, stride=4, bands="10,9,8,7,6,5,4,3,2,1"
    )
    a, b = read(tmp_path / "a_map.tif")[1], read(tmp_path / "b_map.tif")[1]
    assert (a == b).all()
    # windows holding the NaN pixel (rows/cols 19..50 step 4 -> cells 5..12) are 0
    assert (a[5:13, 5:13] == 0).all() and a[4, 4] > 0 and a[13, 13] > 0
    bad = write_raster(tmp_path / "seven.tif", arr[..., :7].copy())
    with pytest.raises(LczError, match="has 7 bands"):
        classify_raster(model, tmp_path / "x.tif", sentinel2=bad)
    with pytest.raises(LczError, match="raster has 10 bands"):
        classify_raster(model, tmp_path / "x.tif", sentinel2=p1, bands="1,2,3,4,5,6,7,8,9,11")
    with pytest.raises(LczError, match="give 10"):
        classify_raster(model, tmp_path / "x.tif", sentinel2=p1, bands="1,2,3")
    assert not list(tmp_path.glob("x*"))


def test_crs_and_pixel_size_errors_and_fixes(tmp_path):
    model = BrightnessModel()
    arr = np.full((80, 80, 10), 0.1, np.float32)
    nocrs = write_raster(tmp_path / "nocrs.tif", arr, epsg=None)
    with pytest.raises(LczError, match="no coordinate reference system"):
        classify_raster(model, tmp_path / "x.tif", sentinel2=nocrs, reproject=True)
    geo = write_raster(tmp_path / "geo.tif", arr, gt=(11.0, 0.0001, 0, 48.2, 0, -0.0001), epsg=4326)
    with pytest.raises(LczError, match="UTM"):
        classify_raster(model, tmp_path / "x.tif", sentinel2=geo)
    res = classify_raster(model, tmp_path / "utm.tif", sentinel2=geo, reproject=True, stride=4)
    ds = gdal().Open(str(tmp_path / "utm.tif"))
    s = osr().SpatialReference(wkt=ds.GetProjection())
    assert s.GetAuthorityCode(None) == "32632" and ds.GetGeoTransform()[1] == 40.0
    assert res.windows_valid > 0
    coarse = write_raster(tmp_path / "c20.tif", arr, gt=(690000.0, 20, 0, 5340000.0, 0, -20))
    with pytest.raises(LczError, match="pixel size of 20 x 20"):
        classify_raster(model, tmp_path / "x.tif", sentinel2=coarse)
    res = classify_raster(
        model, tmp_path / "r.tif", sentinel2=coarse, resample=True, resolution=100
    )
    assert res.grid.cols == (160 - 11) // 10 and abs(res.grid.geotransform[1]) == 100
    with pytest.raises(LczError, match="multiple of the input pixel size"):
        classify_raster(model, tmp_path / "x.tif", sentinel2=coarse, resample=True, resolution=105)
    assert not list(tmp_path.glob("x*"))


def test_all_nodata_gives_empty_map_and_warning(tmp_path):
    arr = np.full((64, 64, 10), -9999, np.float32)
    p = write_raster(tmp_path / "nd.tif", arr, nodata=-9999)
    fb = RecordingFeedback()
    csv = tmp_path / "a.csv"
    res = classify_raster(BrightnessModel(), tmp_path / "m.tif", sentinel2=p, feedback=fb,
                          area_table=csv, map_image=tmp_path / "m.png")  # fmt: skip
    assert res.windows_valid == 0 and (read(tmp_path / "m.tif")[1] == 0).all()
    assert any("map is empty" in w for w in fb.warnings)
    assert sum(r["cells"] for r in read_area_csv(csv)) == 0
    assert (tmp_path / "m.png").exists()


def test_mask_polygon(tmp_path, sample_dir, rf):
    gj = tmp_path / "square.geojson"
    x0, y0, x1, y1 = 691000, 5337000, 693000, 5339000
    gj.write_text(
        '{"type":"FeatureCollection","crs":{"type":"name","properties":{"name":"EPSG:32632"}},'
        '"features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon",'
        f'"coordinates":[[[{x0},{y0}],[{x1},{y0}],[{x1},{y1}],[{x0},{y1}],[{x0},{y0}]]]}}}}]}}'
    )
    out = tmp_path / "m.tif"
    res = classify_raster(rf, out, sentinel2=sample_dir / "scene_s2.tif", mask=gj)
    ds, codes = read(out)
    gt = ds.GetGeoTransform()
    xc = gt[0] + (np.arange(codes.shape[1]) + 0.5) * gt[1]
    yc = gt[3] + (np.arange(codes.shape[0]) + 0.5) * gt[5]
    inside = ((yc > y0) & (yc < y1))[:, None] & ((xc > x0) & (xc < x1))[None, :]
    assert (codes[~inside] == 0).all() and (codes[inside] > 0).all()
    assert res.windows_valid == inside.sum() == 400


def test_cancel_leaves_nothing(rf, sample_dir, tmp_path):
    outs = dict(
        confidence=tmp_path / "c.tif",
        probabilities=tmp_path / "p.tif",
        area_table=tmp_path / "a.csv",
        map_image=tmp_path / "m.png",
    )
    for method in ("none", "gaussian"):
        with pytest.raises(Cancelled):
            classify_raster(rf, tmp_path / "map.tif", sentinel2=sample_dir / "scene_s2.tif",
                            feedback=RecordingFeedback(cancel_at=40), filter=method, **outs)  # fmt: skip
        assert list(tmp_path.iterdir()) == []


def test_cli_several_inputs_with_new_outputs(rf_model, sample_dir, tmp_path, capsys):
    s2 = str(sample_dir / "scene_s2.tif")
    args = ["classify", "--model", str(rf_model), "--sentinel2", s2, s2, "--resolution", "160",
            "--filter", "majority", "--output", str(tmp_path / "a.tif"), str(tmp_path / "b.tif"),
            "--area-table", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"),
            "--probabilities", str(tmp_path / "pa.tif"), str(tmp_path / "pb.tif"),
            "--probabilities-format", "byte"]  # fmt: skip
    assert lcz_main(args) == 0
    a, b = read(tmp_path / "a.tif")[1], read(tmp_path / "b.tif")[1]
    assert (a == b).all() and a.shape == (31, 31)
    p = read(tmp_path / "pa.tif")[1]
    assert p.dtype == np.uint8 and p.shape == (17, 31, 31)
    s = p[:, a > 0].astype(int).sum(axis=0)
    assert (abs(s - 100) <= 9).all()
    assert read_area_csv(tmp_path / "b.csv")[0]["code"] == 1
    assert lcz_main(args[:-6] + ["--area-table", str(tmp_path / "x.csv")]) == 2
    assert "has 1 values but --output has 2" in capsys.readouterr().err


def test_extent_outside_the_raster_is_an_error_before_any_output(rf_model, tmp_path, capsys):
    """An extent that misses the raster fails up front; one that partly overlaps works."""
    img = write_raster(tmp_path / "in.tif", np.full((96, 96, 10), 0.1, np.float32))
    d = tmp_path / "out"
    d.mkdir()
    outs = dict(confidence=d / "c.tif", probabilities=d / "p.tif", area_table=d / "a.csv",
                map_image=d / "m.png")  # fmt: skip
    far = (700000, 5330000, 701000, 5331000)  # the raster covers 690000..690960, 5339040..5340000
    with pytest.raises(LczError, match="does not overlap the raster"):
        classify_raster(BrightnessModel(), d / "map.tif", sentinel2=img, extent=far, **outs)
    assert list(d.iterdir()) == []
    # partly outside: the cells inside are classified, the others are 0
    part = (690500, 5339500, 691500, 5340500)
    res = classify_raster(BrightnessModel(), d / "map.tif", sentinel2=img, extent=part)
    codes = read(d / "map.tif")[1]
    assert res.windows_valid > 0 and (codes > 0).sum() == res.windows_valid
    assert (codes == 0).any()
    # the command line: one line, exit 2, and the existing map is left as it was
    before = (d / "map.tif").read_bytes()
    files = sorted(d.iterdir())
    args = ["classify", "--model", str(rf_model), "--sentinel2", str(img),
            "--output", str(d / "map.tif"), "--extent", ",".join(map(str, far))]  # fmt: skip
    assert lcz_main(args) == 2
    err = capsys.readouterr().err
    assert "does not overlap the raster" in err and err.strip().count("\n") == 0
    assert (d / "map.tif").read_bytes() == before and sorted(d.iterdir()) == files
