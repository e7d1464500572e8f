"""So2Sat patches as georeferenced rasters and outlines (lcz_qgis.patches, so2sat.geo).

Image files are generated here; geolocation comes from the first rows of the real
../shared/so2sat/testing_geo_2025.h5 (true coordinates and EPSG codes), and a 2026-layout
variant is built from the same rows.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from helpers import write_so2sat
from osgeo import gdal, ogr, osr

from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.common.legend import lcz_class
from lcz_qgis.patches import load as load_mod
from lcz_qgis.patches import rasters, selection
from lcz_qgis.patches.load import load_patches
from lcz_qgis.patches.selection import parse_indices
from lcz_qgis.so2sat.geo import So2SatGeo, check_row

gdal.UseExceptions()
N_GEO = 40  # the first 40 rows of testing_geo_2025.h5: 10 UTM zones, no overlapping patches


@pytest.fixture(scope="module")
def geo_rows(shared_dir):
    with h5py.File(shared_dir / "so2sat" / "testing_geo_2025.h5", "r") as g:
        return {k: g[k][:N_GEO] for k in ("tfw", "epsg", "coord")}


def write_geo_2025(path, rows):
    with h5py.File(path, "w") as f:
        for k, v in rows.items():
            f[k] = v


def write_geo_2026(path, rows):
    t = rows["tfw"]  # [ul_x, 10, 0, ul_y, 0, 10] -> world-file order (A, D, B, E, C, F)
    wf = np.stack([t[:, 1], t[:, 2], t[:, 4], -t[:, 5], t[:, 0], t[:, 3]], axis=1)
    with h5py.File(path, "w") as f:
        f["tfw"] = wf
        f["epsg"] = rows["epsg"]
        f["city"] = np.array([f"city{e % 1000}".encode() for e in rows["epsg"][:, 0]]).reshape(
            -1, 1
        )


@pytest.fixture(scope="module")
def data(tmp_path_factory, geo_rows):
    d = tmp_path_factory.mktemp("patches")
    codes = write_so2sat(d / "img.h5", N_GEO, seed=5)
    write_geo_2025(d / "img_geo_2025.h5", geo_rows)
    write_geo_2026(d / "img_geo_2026.h5", geo_rows)
    with h5py.File(d / "img.h5", "r") as f:
        sen2 = f["sen2"][:].astype(np.float32)
        sen1 = f["sen1"][:].astype(np.float32)
    return {"dir": d, "codes": codes, "sen2": sen2, "sen1": sen1, "geo": geo_rows}


def epsg_of(ds) -> int:
    s = osr.SpatialReference(wkt=ds.GetProjection())
    s.AutoIdentifyEPSG()
    return int(s.GetAuthorityCode(None))


def read_outlines(path):
    ds = ogr.Open(str(path))
    lyr = ds.GetLayerByName("patches")
    srs = lyr.GetSpatialRef()
    feats = {}
    for f in lyr:
        feats[f.GetField("patch_index")] = (
            {
                k: f.GetField(k)
                for k in ("lcz", "lcz_letter", "lcz_name", "city", "epsg", "ul_x", "ul_y", "raster")
            },
            f.GetGeometryRef().Clone(),
        )
    return srs, feats


def check_patch_in(path, i, data, sensor="sen2"):
    """Patch i lies in raster ``path``: CRS EPSG:epsg[i], corner = the file's corner."""
    t = data["geo"]["tfw"][i]
    ds = gdal.Open(str(path))
    assert epsg_of(ds) == int(data["geo"]["epsg"][i, 0])
    gt = ds.GetGeoTransform()
    assert gt[1] == 10.0 and gt[5] == -10.0 and gt[2] == gt[4] == 0.0
    col, row = (t[0] - gt[0]) / 10.0, (gt[3] - t[3]) / 10.0
    assert col == pytest.approx(round(col), abs=1e-6) and row == pytest.approx(round(row), abs=1e-6)
    arr = ds.ReadAsArray(int(round(col)), int(round(row)), 32, 32)
    np.testing.assert_array_equal(np.moveaxis(arr, 0, -1), data[sensor][i])
    return ds


@pytest.mark.parametrize("layout", ["2025", "2026"])
def test_mosaics_put_each_patch_at_its_utm_corner(data, tmp_path, layout):
    geo = data["dir"] / f"img_geo_{layout}.h5"
    assert So2SatGeo(geo).layout == layout
    out = tmp_path / "out"
    fb = RecordingFeedback()
    r = load_patches(
        data["dir"] / "img.h5", out, geo=geo, output_patches=tmp_path / "p.gpkg", feedback=fb
    )
    zones = sorted(set(data["geo"]["epsg"][:, 0].tolist()))
    assert r.layout == "geo" and r.crs == zones and r.n_placed == N_GEO and not r.skipped
    assert len(r.rasters) == len(zones)  # one mosaic per zone (one city per zone here)
    srs, feats = read_outlines(tmp_path / "p.gpkg")
    assert sorted(feats) == list(range(N_GEO))
    for i in range(N_GEO):
        attrs, _ = feats[i]
        ds = check_patch_in(out / attrs["raster"], i, data)
        assert f"EPSG{data['geo']['epsg'][i, 0]}" in attrs["raster"]
        band = ds.GetRasterBand(1)
        assert band.GetNoDataValue() == -9999.0 and band.GetDescription() == "B2"
    # nodata between patches: the mosaic of zone 32632 is mostly empty
    ds = gdal.Open(str(out / feats[0][0]["raster"]))
    b1 = ds.GetRasterBand(1).ReadAsArray()
    assert (b1 == -9999.0).mean() > 0.5
    assert (b1 != -9999.0).sum() == 32 * 32 * sum(data["geo"]["epsg"][:, 0] == 32632)
    for p in r.rasters:  # quick-look style: true colour (B4, B3, B2)
        qml = p.with_suffix(".qml").read_text()
        assert 'type="multibandcolor" redBand="3" greenBand="2" blueBand="1"' in qml
    if layout == "2026":
        assert feats[0][0]["city"] == f"city{data['geo']['epsg'][0, 0] % 1000}"
        assert "city632_EPSG32632" in feats[0][0]["raster"]
    else:
        assert feats[0][0]["city"] is None


def test_outlines_exact_attributes_and_default_style(data, tmp_path):
    r = load_patches(
        data["dir"] / "img.h5",
        tmp_path / "o",
        geo=data["dir"] / "img_geo_2025.h5",
        output_patches=tmp_path / "p.gpkg",
    )
    srs, feats = read_outlines(r.patches_layer)
    assert srs.GetAuthorityCode(None) == "4326"  # several UTM zones: a common CRS
    for i in range(N_GEO):
        attrs, geom = feats[i]
        e, (ulx, uly) = int(data["geo"]["epsg"][i, 0]), data["geo"]["tfw"][i, [0, 3]]
        code = int(data["codes"][i])
        assert attrs["lcz"] == code and attrs["lcz_name"] == lcz_class(code).name
        assert attrs["lcz_letter"] == lcz_class(code).letter
        assert attrs["epsg"] == e and attrs["ul_x"] == ulx and attrs["ul_y"] == uly
        # back in the patch's own UTM zone, the outline is its 320 m square
        utm = osr.SpatialReference()
        utm.ImportFromEPSG(e)
        utm.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        geom.Transform(osr.CoordinateTransformation(srs, utm))
        minx, maxx, miny, maxy = geom.GetEnvelope()
        np.testing.assert_allclose(
            [minx, miny, maxx, maxy], [ulx, uly - 320, ulx + 320, uly], atol=0.01
        )
        assert geom.GetGeometryRef(0).GetPointCount() > 5  # densified edges
    ds = ogr.Open(str(r.patches_layer))
    st = ds.GetLayerByName("layer_styles")
    row = st.GetNextFeature()
    assert row.GetField("f_table_name") == "patches" and row.GetField("useAsDefault") == 1
    assert 'type="categorizedSymbol" attr="lcz"' in row.GetField("styleQML")
    assert r.patches_layer.with_suffix(".qml").exists()


def test_single_zone_outlines_stay_in_the_utm_crs(data, tmp_path):
    munich = np.flatnonzero(data["geo"]["epsg"][:, 0] == 32632)
    r = load_patches(
        data["dir"] / "img.h5",
        tmp_path / "o",
        geo=data["dir"] / "img_geo_2025.h5",
        indices=",".join(map(str, munich)),
        output_patches=tmp_path / "m.gpkg",
    )
    srs, feats = read_outlines(r.patches_layer)
    assert srs.GetAuthorityCode(None) == "32632" and sorted(feats) == munich.tolist()
    for i in munich:
        ulx, uly = data["geo"]["tfw"][i, [0, 3]]
        assert feats[i][1].GetEnvelope() == (ulx, ulx + 320, uly - 320, uly)


def test_per_patch_files_sen1(data, tmp_path):
    r = load_patches(
        data["dir"] / "img.h5",
        tmp_path / "pp",
        geo=data["dir"] / "img_geo_2026.h5",
        sensor="sen1",
        indices="0-4,7",
        per_patch_files=True,
    )
    assert [p.name for p in r.rasters] == [f"img_sen1_{i:06d}.tif" for i in (0, 1, 2, 3, 4, 7)]
    for i, p in zip((0, 1, 2, 3, 4, 7), r.rasters):
        ds = check_patch_in(p, i, data, sensor="sen1")
        t = data["geo"]["tfw"][i]
        assert ds.GetGeoTransform() == (t[0], 10.0, 0.0, t[3], 0.0, -10.0)
        assert (ds.RasterXSize, ds.RasterYSize, ds.RasterCount) == (32, 32, 8)
        assert ds.GetRasterBand(5).GetDescription() == "VH_intensity"
        assert 'redBand="6" greenBand="5" blueBand="6"' in p.with_suffix(".qml").read_text()


def test_impossible_rows_are_skipped_and_counted(data, tmp_path, geo_rows):
    bad = {k: v.copy() for k, v in geo_rows.items()}
    bad["tfw"][3, 1] = 20.0  # 20 m pixels
    bad["epsg"][5, 0] = 4326  # not a UTM zone
    bad["tfw"][7, 0] = 5.0e6  # easting far outside the zone
    bad["tfw"][9, 3] = np.nan
    write_geo_2025(tmp_path / "bad_geo.h5", bad)
    fb = RecordingFeedback()
    r = load_patches(
        data["dir"] / "img.h5",
        tmp_path / "o",
        geo=tmp_path / "bad_geo.h5",
        indices="0-11",
        output_patches=tmp_path / "p.gpkg",
        feedback=fb,
    )
    assert [i for i, _ in r.skipped] == [3, 5, 7, 9]
    assert r.n_placed == 8 and 3 not in r.indices.tolist()
    assert any("4 patch(es) skipped" in w and "row 3: pixel size 20" in w for w in fb.warnings)
    _, feats = read_outlines(tmp_path / "p.gpkg")
    assert sorted(feats) == [0, 1, 2, 4, 6, 8, 10, 11]
    assert check_row(32632, (690000.0, 10, 0, 5300000.0, 0, -10)) is None
    assert "northing" in check_row(32732, (690000.0, 10, 0, 500000.0, 0, -10))


def test_bad_inputs_give_clear_errors(data, tmp_path, geo_rows):
    img = data["dir"] / "img.h5"
    short = {k: v[:30] for k, v in geo_rows.items()}
    write_geo_2025(tmp_path / "short_geo.h5", short)
    with pytest.raises(LczError, match="has 30 rows but 'img.h5' has 40 patches"):
        load_patches(img, tmp_path / "o", geo=tmp_path / "short_geo.h5", indices="0")
    with pytest.raises(LczError, match=r"out of range: the file has 40 patches \(indices 0-39\)"):
        load_patches(img, tmp_path / "o", indices="0-3,40,99")
    with pytest.raises(LczError, match="either indices or per_class"):
        load_patches(img, tmp_path / "o", indices="1", per_class=2)
    with pytest.raises(LczError, match="not a patch index"):
        parse_indices("1,a-3", 10)
    with pytest.raises(LczError, match="runs backwards"):
        parse_indices("9-3", 10)
    with pytest.raises(LczError, match="not a So2Sat geolocation file"):
        load_patches(img, tmp_path / "o", geo=img, indices="0")
    with pytest.raises(LczError, match=r"must end in \.gpkg"):
        load_patches(img, tmp_path / "o", indices="0", output_patches=tmp_path / "p.shp")
    assert parse_indices("0-3, 15;2 20-21", 30).tolist() == [0, 1, 2, 3, 15, 20, 21]
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_every_patch_is_refused_above_the_limit(data, tmp_path, monkeypatch):
    monkeypatch.setattr(selection, "MAX_PATCHES", 25)
    with pytest.raises(LczError, match="more than the 25 .*indices .*per_class"):
        load_patches(data["dir"] / "img.h5", tmp_path / "o")
    with pytest.raises(LczError, match="indices selects 30 patches"):
        load_patches(data["dir"] / "img.h5", tmp_path / "o", indices="0-29")
    r = load_patches(data["dir"] / "img.h5", tmp_path / "o", indices="0-24")
    assert r.n_placed == 25


def test_per_class_grid_layout(tmp_path):
    codes = np.repeat(np.arange(1, 18), 4)
    codes = codes[codes != 7]  # no LCZ 7 at all
    codes = np.concatenate([codes, [8, 8, 8]])  # 3 extra LCZ 8
    codes[codes == 17] = [17, 17, 17, 3]  # only 3 of water
    write_so2sat(tmp_path / "c.h5", codes.size, seed=1, codes=codes)
    fb = RecordingFeedback()
    r = load_patches(
        tmp_path / "c.h5",
        tmp_path / "g",
        per_class=4,
        seed=3,
        output_patches=tmp_path / "g.gpkg",
        feedback=fb,
    )
    assert any("LCZ 7 has 0" in w and "LCZ G has 3" in w for w in fb.warnings)
    assert r.layout == "grid" and r.crs == [3857] and len(r.rasters) == 1
    labels = codes[r.indices]
    assert all((labels == c).sum() == (3 if c == 17 else 4) for c in set(range(1, 18)) - {7})
    again = load_patches(tmp_path / "c.h5", tmp_path / "g2", per_class=4, seed=3)
    assert again.indices.tolist() == r.indices.tolist()  # seeded
    other = load_patches(tmp_path / "c.h5", tmp_path / "g3", per_class=4, seed=4)
    assert other.indices.tolist() != r.indices.tolist()
    ds = gdal.Open(str(r.rasters[0]))
    assert epsg_of(ds) == 3857 and ds.GetGeoTransform() == (0.0, 10.0, 0.0, 0.0, 0.0, -10.0)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        sen2 = f["sen2"][:].astype(np.float32)
    _, feats = read_outlines(tmp_path / "g.gpkg")
    rows = {}
    for i, (attrs, geom) in feats.items():
        minx, maxx, miny, maxy = geom.GetEnvelope()
        assert (maxx - minx, maxy - miny) == (320.0, 320.0)
        col, row = int(minx / 10), int(-maxy / 10)
        assert minx % 400 == 0 and maxy % 400 == 0  # 80 m gaps
        np.testing.assert_array_equal(np.moveaxis(ds.ReadAsArray(col, row, 32, 32), 0, -1), sen2[i])
        rows.setdefault(row, set()).add(attrs["lcz"])
    assert all(len(s) == 1 for s in rows.values())  # one class per grid row
    assert len(rows) == 16
    gap = ds.GetRasterBand(1).ReadAsArray(32, 0, 8, 32)
    assert (gap == -9999.0).all()


def test_cancel_leaves_no_rasters(data, tmp_path):
    out = tmp_path / "c"
    with pytest.raises(Cancelled):
        load_patches(
            data["dir"] / "img.h5",
            out,
            geo=data["dir"] / "img_geo_2025.h5",
            output_patches=tmp_path / "c.gpkg",
            feedback=RecordingFeedback(cancel_at=40),
        )
    assert not list(out.glob("*.tif")) and not list(out.glob("*.qml"))
    assert not (tmp_path / "c.gpkg").exists()


def test_overlapping_patches_warn_and_the_later_is_on_top(tmp_path, shared_dir):
    with h5py.File(shared_dir / "so2sat" / "testing_geo_2025.h5", "r") as g:
        rows = {k: g[k][[6, 48]] for k in ("tfw", "epsg", "coord")}  # 300 m apart, 32756
    write_geo_2025(tmp_path / "o_geo.h5", rows)
    write_so2sat(tmp_path / "o.h5", 2, seed=9)
    fb = RecordingFeedback()
    r = load_patches(tmp_path / "o.h5", tmp_path / "o", geo=tmp_path / "o_geo.h5", feedback=fb)
    assert r.overlapping == 2 and any("overlap" in w for w in fb.warnings)
    with h5py.File(tmp_path / "o.h5", "r") as f:
        top = f["sen2"][1].astype(np.float32)
    ds = gdal.Open(str(r.rasters[0]))
    gt = ds.GetGeoTransform()
    col, row = (rows["tfw"][1, 0] - gt[0]) / 10, (gt[3] - rows["tfw"][1, 3]) / 10
    arr = ds.ReadAsArray(int(col), int(row), 32, 32)
    np.testing.assert_array_equal(np.moveaxis(arr, 0, -1), top)


# -- failed and cancelled runs over earlier outputs ---------------------------------------
def snapshot(folder):
    """{name: bytes} of every file in ``folder`` (hidden ones too), folders as None."""
    return {p.name: (None if p.is_dir() else p.read_bytes()) for p in sorted(folder.iterdir())}


class CancelAfter(RecordingFeedback):
    """is_cancelled() turns True after ``n`` calls (a cancel in the middle of a run)."""

    def __init__(self, n):
        super().__init__()
        self.n, self.calls = n, 0

    def is_cancelled(self):
        self.calls += 1
        return self.calls > self.n


@pytest.fixture(scope="module")
def other_img(tmp_path_factory, data):
    """Another 'img.h5' (same output names, other values) for reruns."""
    d = tmp_path_factory.mktemp("other")
    write_so2sat(d / "img.h5", N_GEO, seed=77)
    return d / "img.h5"


@pytest.mark.parametrize("per_patch", [True, False])
def test_failing_rerun_keeps_earlier_files(data, other_img, tmp_path, per_patch):
    out = tmp_path / "p4"
    geo = data["dir"] / "img_geo_2025.h5"
    first = load_patches(
        data["dir"] / "img.h5", out, geo=geo, indices="0-9", per_patch_files=per_patch
    )
    zones = len(set(data["geo"]["epsg"][:10, 0].tolist()))
    assert len(first.rasters) == (10 if per_patch else zones)
    (out / "out.qml").mkdir()  # the outlines' style file cannot be written
    before = snapshot(out)
    with pytest.raises(LczError, match=r"out\.qml' is a folder"):
        load_patches(
            other_img,
            out,
            geo=geo,
            indices="0-19",
            per_patch_files=per_patch,
            output_patches=out / "out.gpkg",
        )
    assert snapshot(out) == before  # intact, same bytes, no temporary or new file


@pytest.mark.parametrize("per_patch", [True, False])
def test_cancel_or_failure_late_in_a_rerun_keeps_earlier_files(
    data, other_img, tmp_path, monkeypatch, per_patch
):
    out = tmp_path / "o"
    geo = data["dir"] / "img_geo_2025.h5"
    kw = dict(geo=geo, per_patch_files=per_patch, output_patches=out / "out.gpkg")
    first = load_patches(data["dir"] / "img.h5", out, indices="0-9", **kw)
    before = snapshot(out)
    assert len(before) == 2 * len(first.rasters) + 2
    # cancelled in the middle of the rasters (some already written as temporaries)
    created = []
    create = rasters._create
    monkeypatch.setattr(rasters, "_create", lambda *a: created.append(a[0]) or create(*a))
    with pytest.raises(Cancelled):
        load_patches(
            other_img, out, indices="0-39", feedback=CancelAfter(20 if per_patch else 30), **kw
        )
    assert 3 <= len(created) < (40 if per_patch else 10)  # cancelled half-way
    assert snapshot(out) == before

    # every raster written, then the outlines fail (disk full)
    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(load_mod, "write_outlines", full)
    with pytest.raises(LczError, match="^no space left on device while writing .*out.gpkg"):
        load_patches(other_img, out, indices="0-39", **kw)
    assert snapshot(out) == before
    monkeypatch.undo()
    r = load_patches(other_img, out, indices="0-39", **kw)  # and a good run replaces them
    assert len(r.rasters) == (40 if per_patch else 10)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    check_patch_in(
        out / read_outlines(out / "out.gpkg")[1][5][0]["raster"],
        5,
        {"geo": data["geo"], "sen2": _sen2(other_img)},
    )


def _sen2(path):
    with h5py.File(path, "r") as f:
        return f["sen2"][:].astype(np.float32)


def test_outputs_checked_before_anything_is_written(data, tmp_path):
    img, geo = data["dir"] / "img.h5", data["dir"] / "img_geo_2025.h5"
    # outlines on the geolocation file (named .gpkg): refused, the file untouched
    geo_gpkg = tmp_path / "geo.gpkg"
    geo_gpkg.write_bytes(geo.read_bytes())
    with pytest.raises(LczError, match="is the input geo"):
        load_patches(img, tmp_path / "a", geo=geo_gpkg, indices="0", output_patches=geo_gpkg)
    assert geo_gpkg.read_bytes() == geo.read_bytes()
    # outlines whose style file is a raster's style file
    with pytest.raises(LczError, match="would write the same file"):
        load_patches(
            img, tmp_path / "a", indices="0", output_patches=tmp_path / "a" / "img_sen2_grid.gpkg"
        )
    # a raster path that is a folder
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "img_sen2_000003.tif").mkdir()
    with pytest.raises(LczError, match=r"img_sen2_000003\.tif' is a folder"):
        load_patches(img, tmp_path / "b", indices="2-4", per_patch_files=True)
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["img_sen2_000003.tif"]
    assert not (tmp_path / "a").exists()


def test_a_failed_run_creates_no_output_folder(data, tmp_path):
    img = data["dir"] / "img.h5"
    with pytest.raises(LczError, match="does not exist"):
        load_patches(img, tmp_path / "new", indices="0", output_patches=tmp_path / "no" / "x.gpkg")
    assert not (tmp_path / "new").exists()
    with pytest.raises(Cancelled):
        load_patches(
            img, tmp_path / "new", geo=data["dir"] / "img_geo_2025.h5", feedback=CancelAfter(3)
        )
    assert not (tmp_path / "new").exists()
    # the outlines may go into the output folder this run creates
    r = load_patches(
        img, tmp_path / "new", indices="0-2", output_patches=tmp_path / "new" / "o.gpkg"
    )
    assert r.patches_layer.exists() and r.patches_layer.with_suffix(".qml").exists()
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == [
        "img_sen2_grid.qml",
        "img_sen2_grid.tif",
        "o.gpkg",
        "o.qml",
    ]


def test_non_finite_patches_are_counted_in_a_warning(tmp_path):
    write_so2sat(tmp_path / "n.h5", 12, seed=2)
    fb = RecordingFeedback()
    load_patches(tmp_path / "n.h5", tmp_path / "ok", feedback=fb)
    assert not any("NaN" in w for w in fb.warnings)
    with h5py.File(tmp_path / "n.h5", "r+") as f:
        f["sen2"][3, 0, 0, 0] = np.nan
        f["sen2"][7, 5, 5, :] = np.inf
        f["sen1"][1, 0, 0, 0] = np.nan  # not the sensor written
    for per_patch in (False, True):
        fb = RecordingFeedback()
        r = load_patches(
            tmp_path / "n.h5", tmp_path / f"o{per_patch}", per_patch_files=per_patch, feedback=fb
        )
        assert r.n_placed == 12
        msg = [w for w in fb.warnings if "NaN or infinite" in w]
        assert len(msg) == 1 and "2 of 12 patch(es)" in msg[0] and "indices 3, 7" in msg[0]


def test_negative_seed_is_a_clear_error(tmp_path):
    write_so2sat(tmp_path / "s.h5", 34, seed=4, codes=np.repeat(np.arange(1, 18), 2))
    with pytest.raises(
        LczError, match="the random seed must be a whole number from 0 to 4294967295; got -1"
    ):
        load_patches(tmp_path / "s.h5", tmp_path / "o", per_class=1, seed=-1)
    assert not (tmp_path / "o").exists()
    from lcz_qgis.cli import main

    assert (
        main(
            [
                "patches",
                "--input",
                str(tmp_path / "s.h5"),
                "--per-class",
                "1",
                "--seed",
                "-5",
                "--output-folder",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )


@pytest.mark.qgis
def test_processing_seed_has_a_minimum_of_zero(qgis_app):
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById("lcz:loadpatches")
    assert alg.parameterDefinition("SEED").minimum() == 0
