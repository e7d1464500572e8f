"""Multi-date fusion (lcz classify-dates): the mean of the dates' probabilities over the
dates valid at each cell, recomputed here from single-date ``classify`` runs."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import write_raster

from lcz_qgis.classify.multidate import classify_dates
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cli import main as lcz_main
from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.models.modelfile import load_model
from lcz_qgis.raster.io import gdal
from lcz_qgis.sample_data import S2_NODATA, SCENE_ORIGIN, write_scene

STRIDE = 16
GT = (SCENE_ORIGIN[0], 10.0, 0.0, SCENE_ORIGIN[1], 0.0, -10.0)
# "clouds" (nodata) per date, input pixel rows/cols: one place per date, one in all
CLOUDS = {
    1: [(100, 200, 100, 200)],
    2: [(150, 350, 150, 350)],
    3: [(100, 200, 300, 400)],
}
EVERYWHERE = (400, 470, 20, 120)  # cloudy in all three dates


def read(path):
    ds = gdal().Open(str(path))
    return ds, ds.ReadAsArray()


@pytest.fixture(scope="module")
def rf(rf_model):
    return load_model(rf_model)


@pytest.fixture(scope="module")
def dates(tmp_path_factory):
    """Three dates of the sample city (three renderings), each with its own clouds."""
    root = tmp_path_factory.mktemp("dates")
    paths = []
    for k, clouds in CLOUDS.items():
        (root / f"scene{k}").mkdir()
        scene = write_scene(root / f"scene{k}", seed=100 + k)["scene_s2.tif"]
        arr = gdal().Open(str(scene)).ReadAsArray().transpose(1, 2, 0).copy()
        for r0, r1, c0, c1 in [*clouds, EVERYWHERE]:
            arr[r0:r1, c0:c1] = S2_NODATA
        paths.append(write_raster(root / f"date{k}.tif", arr, gt=GT, nodata=S2_NODATA))
    return paths


@pytest.fixture(scope="module")
def single(rf, dates, tmp_path_factory):
    """Each date classified alone: (codes, probabilities) per date."""
    out = tmp_path_factory.mktemp("single")
    runs = []
    for k, path in enumerate(dates, 1):
        classify_raster(rf, out / f"m{k}.tif", sentinel2=path, stride=STRIDE,
                        probabilities=out / f"p{k}.tif")  # fmt: skip
        runs.append((read(out / f"m{k}.tif")[1], read(out / f"p{k}.tif")[1]))
    return runs


@pytest.fixture(scope="module")
def fused(rf, dates, tmp_path_factory):
    out = tmp_path_factory.mktemp("fused")
    names = ("confidence", "probabilities", "second_class", "margin", "agreement", "date_count")
    paths = {n: out / f"{n}.tif" for n in names}
    fb = RecordingFeedback()
    res = classify_dates(rf, out / "map.tif", dates[0], dates[1:], stride=STRIDE,
                         feedback=fb, **paths)  # fmt: skip
    arrays = {n: read(p)[1] for n, p in paths.items()}
    arrays["map"] = read(out / "map.tif")[1]
    return res, arrays, fb, out


def _expected(single):
    """Fused probabilities, map, count and agreement recomputed from the single runs."""
    valid = np.stack([codes > 0 for codes, _ in single])  # (dates, rows, cols)
    count = valid.sum(axis=0)
    probas = np.stack([np.where(v[None], p, 0.0) for v, (_, p) in zip(valid, single)])
    mean = probas.sum(axis=0) / np.maximum(count, 1)[None]
    codes = np.where(count > 0, np.argmax(mean, axis=0) + 1, 0)
    votes = sum((c == codes) & (c > 0) for c, _ in single)
    agreement = np.where(count > 0, votes / np.maximum(count, 1), -1.0)
    return mean, codes, count, agreement


def test_fused_probabilities_are_the_mean_over_the_valid_dates(fused, single):
    res, out, fb, _ = fused
    mean, codes, count, agreement = _expected(single)
    has = count > 0
    np.testing.assert_allclose(out["probabilities"][:, has], mean[:, has], atol=1e-6)
    assert (out["probabilities"][:, ~has] == -1).all()
    np.testing.assert_array_equal(out["map"], codes)
    np.testing.assert_array_equal(out["date_count"], count)
    np.testing.assert_allclose(out["agreement"], agreement, atol=1e-6)
    np.testing.assert_allclose(out["confidence"][has], mean.max(axis=0)[has], atol=1e-6)
    # the dates do disagree somewhere, and every count 0..3 occurs (clouds at 3 places)
    assert (out["agreement"][has] < 1).any() and set(np.unique(count)) == {0, 1, 2, 3}
    assert res.windows_valid == int(has.sum())
    assert res.date_windows_valid == [int((c > 0).sum()) for c, _ in single]
    assert fb.percents[-1] == pytest.approx(100) and all(np.diff(fb.percents) >= -1e-9)


def test_a_cloud_in_one_date_is_filled_by_the_others(fused, single):
    _, out, _, _ = fused
    # cell (7, 7): window rows/cols 112-143, inside date 1's cloud only
    assert single[0][0][7, 7] == 0 and single[1][0][7, 7] > 0 and single[2][0][7, 7] > 0
    assert out["map"][7, 7] > 0 and out["date_count"][7, 7] == 2
    # cell (25, 2): window rows 400-431, cols 32-63, cloudy in every date
    assert all(codes[25, 2] == 0 for codes, _ in single)
    assert out["map"][25, 2] == 0 and out["date_count"][25, 2] == 0
    assert out["agreement"][25, 2] == -1 and out["second_class"][25, 2] == 0


def test_an_all_cloudy_date_warns_and_contributes_nothing(rf, dates, fused, tmp_path):
    res3, out3, fb3, _ = fused
    arr = gdal().Open(str(dates[1])).ReadAsArray().transpose(1, 2, 0)
    cloudy = write_raster(tmp_path / "all_cloud.tif", np.full_like(arr, S2_NODATA), gt=GT,
                          nodata=S2_NODATA)  # fmt: skip
    names = ("probabilities", "agreement", "date_count", "confidence")
    paths = {n: tmp_path / f"{n}.tif" for n in names}
    fb = RecordingFeedback()
    res = classify_dates(rf, tmp_path / "map.tif", dates[0], [cloudy, *dates[1:]],
                         stride=STRIDE, feedback=fb, **paths)  # fmt: skip
    # the warning names the date (2nd) and its file; the three others get none
    named = [w for w in fb.warnings if "all_cloud.tif" in w]
    assert len(named) == 1 and "date 2" in named[0] and "contributes nothing" in named[0]
    assert not any(d.name in w for d in dates for w in fb.warnings)
    assert not any("all_cloud.tif" in m for m in fb3.warnings + fb3.messages)
    assert res.date_windows_valid == [res3.date_windows_valid[0], 0, *res3.date_windows_valid[1:]]
    # the map is the map of the other three dates alone; the count never counts it
    np.testing.assert_array_equal(read(tmp_path / "map.tif")[1], out3["map"])
    np.testing.assert_array_equal(read(paths["date_count"])[1], out3["date_count"])
    assert read(paths["date_count"])[1].max() == 3
    for n in ("probabilities", "agreement", "confidence"):
        np.testing.assert_allclose(read(paths[n])[1], out3[n], atol=1e-6, err_msg=n)
    assert res.windows_valid == res3.windows_valid


def test_a_date_clear_at_few_cells_gets_a_note(rf, rf_model, dates, tmp_path, capsys):
    arr = gdal().Open(str(dates[2])).ReadAsArray().transpose(1, 2, 0).copy()
    arr[:200] = S2_NODATA  # clear only in rows/cols 200-263: a few windows
    arr[264:] = S2_NODATA
    arr[:, :200] = S2_NODATA
    arr[:, 264:] = S2_NODATA
    few = write_raster(tmp_path / "few.tif", arr, gt=GT, nodata=S2_NODATA)
    fb = RecordingFeedback()
    res = classify_dates(rf, tmp_path / "m.tif", dates[0], [few], stride=STRIDE, feedback=fb)
    n = res.date_windows_valid[1]
    assert 0 < n < 0.01 * res.windows_valid
    notes = [m for m in fb.messages if "few.tif" in m and "contributes little" in m]
    assert len(notes) == 1 and "date 2" in notes[0] and f"in {n} window" in notes[0]
    assert not any("few.tif" in w for w in fb.warnings)
    assert not any(dates[0].name in m and "contributes" in m for m in fb.messages)
    # the CLI user sees the warning about a date that contributes nothing
    empty = write_raster(tmp_path / "empty.tif", np.full_like(arr, S2_NODATA), gt=GT,
                         nodata=S2_NODATA)  # fmt: skip
    code = lcz_main(["classify-dates", "--model", str(rf_model), "--sentinel2", str(dates[0]),
                     "--dates", str(empty), "--stride", str(STRIDE),
                     "--output", str(tmp_path / "cli.tif")])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr()
    assert "empty.tif" in printed.out + printed.err
    assert "contributes nothing" in printed.out + printed.err


def test_georeference_is_the_first_dates_grid_and_styles_are_written(rf, fused, dates, tmp_path):
    _, _, _, folder = fused
    classify_raster(rf, tmp_path / "one.tif", sentinel2=dates[0], stride=STRIDE)
    one, _ = read(tmp_path / "one.tif")
    for name in ("map", "agreement", "date_count", "second_class"):
        ds, _ = read(folder / f"{name}.tif")
        assert ds.GetGeoTransform() == one.GetGeoTransform()
        assert ds.GetProjection() == one.GetProjection()
        assert (ds.RasterXSize, ds.RasterYSize) == (one.RasterXSize, one.RasterYSize)
    qml = {n: (folder / f"{n}.qml").read_text() for n in ("map", "second_class", "date_count")}
    assert 'type="paletted"' in qml["second_class"] and "Compact high-rise" in qml["second_class"]
    assert qml["map"] == qml["second_class"]
    assert "3 dates" in qml["date_count"] and "singlebandpseudocolor" in qml["date_count"]
    assert "singlebandpseudocolor" in (folder / "agreement.qml").read_text()


def test_a_date_on_another_grid_is_warped_onto_the_first(rf, dates, tmp_path):
    g = gdal()
    # date 3 in Web Mercator at 15 m: warped on the fly onto date 1's grid
    other = tmp_path / "date3_3857.tif"
    g.Warp(str(other), str(dates[2]), dstSRS="EPSG:3857", xRes=15, yRes=15,
           resampleAlg="bilinear", srcNodata=S2_NODATA, dstNodata=S2_NODATA)  # fmt: skip
    # the same warp done here onto date 1's grid, then fused as an aligned date
    ref = g.Open(str(dates[0]))
    aligned = tmp_path / "date3_aligned.tif"
    g.Warp(str(aligned), str(other), dstSRS=ref.GetProjection(), width=512, height=512,
           outputBounds=(690000, 5334880, 695120, 5340000), resampleAlg="bilinear",
           srcNodata=S2_NODATA, dstNodata=S2_NODATA)  # fmt: skip
    fb = RecordingFeedback()
    res = classify_dates(rf, tmp_path / "w.tif", dates[0], [dates[1], other], stride=STRIDE,
                         probabilities=tmp_path / "wp.tif", feedback=fb)  # fmt: skip
    assert any("date 3" in m and "onto the Sentinel-2 grid" in m for m in fb.messages)
    assert not any("date 2" in m for m in fb.messages)  # on the grid already: not warped
    assert not list(tmp_path.glob("*.vrt"))
    classify_dates(rf, tmp_path / "a.tif", dates[0], [dates[1], aligned], stride=STRIDE,
                   probabilities=tmp_path / "ap.tif")  # fmt: skip
    w, a = read(tmp_path / "w.tif"), read(tmp_path / "a.tif")
    assert w[0].GetGeoTransform() == a[0].GetGeoTransform() == res.grid.geotransform
    # GDAL's two warpers interpolate a little differently (median 3e-4 reflectance): the
    # same cells are seen, with nearly the same probabilities and classes
    wp, ap = read(tmp_path / "wp.tif")[1], read(tmp_path / "ap.tif")[1]
    np.testing.assert_array_equal(wp == -1, ap == -1)
    assert np.abs(wp - ap).mean() < 0.005
    assert (w[1] == a[1]).mean() > 0.98


def test_gaussian_filter_agreement_is_with_the_filtered_map(rf, dates, single, tmp_path):
    paths = {n: tmp_path / f"{n}.tif" for n in ("agreement", "date_count", "probabilities")}
    classify_dates(rf, tmp_path / "g.tif", dates[0], dates[1:], stride=STRIDE,
                   filter="gaussian", confidence_format="byte", **paths)  # fmt: skip
    codes = read(tmp_path / "g.tif")[1]
    _, plain, count, _ = _expected(single)
    assert (codes != plain).any()  # the filter changed some cells
    np.testing.assert_array_equal(read(paths["date_count"])[1], count)
    votes = sum((c == codes) & (c > 0) for c, _ in single)
    expect = np.where(count > 0, np.rint(100 * votes / np.maximum(count, 1)), 255)
    np.testing.assert_array_equal(read(paths["agreement"])[1], expect)
    p = read(paths["probabilities"])[1]
    np.testing.assert_array_equal(codes, np.where(count > 0, np.argmax(p, axis=0) + 1, 0))


def test_cli_classify_dates_writes_the_same_map(rf_model, dates, fused, tmp_path, capsys):
    _, out, _, _ = fused
    code = lcz_main(["classify-dates", "--model", str(rf_model), "--sentinel2", str(dates[0]),
                     "--dates", str(dates[1]), str(dates[2]), "--stride", str(STRIDE),
                     "--output", str(tmp_path / "m.tif"),
                     "--date-count", str(tmp_path / "n.tif")])  # fmt: skip
    assert code == 0
    report = capsys.readouterr().out
    assert "from 3 dates" in report and "date_count" in report
    np.testing.assert_array_equal(read(tmp_path / "m.tif")[1], out["map"])
    np.testing.assert_array_equal(read(tmp_path / "n.tif")[1], out["date_count"])


def test_bad_dates_are_refused_before_anything_is_written(rf, dates, tmp_path):
    arr = gdal().Open(str(dates[1])).ReadAsArray().transpose(1, 2, 0)
    far = write_raster(tmp_path / "far.tif", arr, gt=(GT[0] + 50000, *GT[1:]),
                       nodata=S2_NODATA)  # fmt: skip
    nine = write_raster(tmp_path / "nine.tif", arr[..., :9], gt=GT, nodata=S2_NODATA)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(LczError, match="do not overlap"):
        classify_dates(rf, out / "m.tif", dates[0], [dates[1], far], stride=STRIDE)
    with pytest.raises(LczError, match=r"'nine.tif' has 9 bands .* has 10"):
        classify_dates(rf, out / "m.tif", dates[0], [nine], stride=STRIDE)
    with pytest.raises(LczError, match="is the input"):
        classify_dates(rf, dates[1], dates[0], [dates[1]], stride=STRIDE)
    code = lcz_main(
        [
            "classify-dates",
            "--model",
            "x.lczmodel",
            "--sentinel2",
            str(dates[0]),
            "--dates",
            str(tmp_path / "missing.tif"),
            "--output",
            str(out / "m.tif"),
        ]
    )
    assert code != 0
    assert not list(out.iterdir())


def test_fusion_model_is_refused(fusion_model, dates, tmp_path):
    with pytest.raises(LczError, match="Sentinel-2 models"):
        classify_dates(fusion_model, tmp_path / "m.tif", dates[0], dates[1:])
    assert not list(tmp_path.iterdir())


def test_cancel_leaves_nothing(rf, dates, tmp_path):
    fb = RecordingFeedback(cancel_at=40)
    with pytest.raises(Cancelled):
        classify_dates(rf, tmp_path / "m.tif", dates[0], dates[1:], stride=STRIDE,
                       filter="gaussian", probabilities=tmp_path / "p.tif",
                       agreement=tmp_path / "a.tif", feedback=fb)  # fmt: skip
    assert not list(tmp_path.iterdir())


@pytest.mark.qgis
def test_processing_classify_dates_writes_and_loads_styled_outputs(
    qgis_app, rf_model, dates, fused, tmp_path
):
    from helpers import run_and_load

    _, out, _, _ = fused
    paths = {k: tmp_path / f"{k.lower()}.tif" for k in ("OUTPUT", "AGREEMENT", "DATE_COUNT",
                                                         "SECOND_CLASS")}  # fmt: skip
    res, layers = run_and_load(
        "lcz:classifydates",
        {"MODEL": str(rf_model), "SENTINEL2": str(dates[0]),
         "DATES": [str(d) for d in dates[1:]], "STRIDE": STRIDE}
        | {k: str(p) for k, p in paths.items()},
    )  # fmt: skip
    assert {k: res[k] for k in paths} == {k: str(p) for k, p in paths.items()}
    names = {p.name: layers[p.name].name() for p in paths.values()}
    assert names == {"output.tif": "LCZ map (dates fused) \u2013 rf \u2013 date1 + 2 more",
                     "agreement.tif": "LCZ date agreement \u2013 rf \u2013 date1 + 2 more",
                     "date_count.tif": "LCZ dates seen \u2013 rf \u2013 date1 + 2 more",
                     "second_class.tif": "LCZ second class \u2013 rf \u2013 date1 + 2 more"}  # fmt: skip
    assert layers["output.tif"].renderer().type() == "paletted"
    assert layers["second_class.tif"].renderer().type() == "paletted"
    assert layers["date_count.tif"].renderer().type() == "singlebandpseudocolor"
    np.testing.assert_array_equal(read(paths["OUTPUT"])[1], out["map"])
    np.testing.assert_array_equal(read(paths["DATE_COUNT"])[1], out["date_count"])


def test_each_dates_scale_is_detected_and_reported_in_date_order(rf, dates, tmp_path):
    """The dates' scale detections run side by side; each DN date is scaled on its own
    and its warning comes in date order, naming its file."""
    paths = []
    for k, path in enumerate(dates, 1):
        ds, arr = read(path)
        arr = arr.transpose(1, 2, 0).astype(np.float32)
        if k != 2:  # dates 1 and 3 as DN (x 10000), date 2 as reflectance
            arr = np.where(arr == S2_NODATA, S2_NODATA, arr * 10000.0)
        paths.append(write_raster(tmp_path / f"d{k}.tif", arr, gt=GT, nodata=S2_NODATA))
    fb = RecordingFeedback()
    classify_dates(rf, tmp_path / "dn.tif", paths[0], paths[1:], stride=STRIDE, feedback=fb)
    dn = [w for w in fb.warnings if "looks DN-scaled" in w]
    assert len(dn) == 2 and "'d1.tif'" in dn[0] and "'d3.tif'" in dn[1]
    classify_dates(rf, tmp_path / "refl.tif", dates[0], dates[1:], stride=STRIDE)
    assert np.array_equal(read(tmp_path / "dn.tif")[1], read(tmp_path / "refl.tif")[1])


def test_safe_products_prepared_then_fused_fill_each_others_clouds(rf, tmp_path):
    """The user's path: two SAFE-like L2A dates with SCL clouds at different places,
    each prepared (clouds -> nodata), then fused: a cell cloudy in one date is classified
    from the other, as that date alone classifies it."""
    from helpers import make_safe_date

    from lcz_qgis.sentinel.prepare_s2 import prepare_sentinel2

    stride, size = 16, 128
    clouds = {"20230601": [(0, 0, 48)], "20230801": [(64, 64, 64, 8)]}  # cloud 9, cloud 8
    prepared = []
    for k, (date, cloud) in enumerate(clouds.items()):
        safe = make_safe_date(tmp_path / "safe", date, clouds=cloud, seed=k, size10=size)
        prepared.append(tmp_path / f"{date}.tif")
        prepare_sentinel2(safe, prepared[-1])
    singles = []
    for k, path in enumerate(prepared):
        classify_raster(rf, tmp_path / f"one{k}.tif", sentinel2=path, stride=stride)
        singles.append(read(tmp_path / f"one{k}.tif")[1])
    classify_dates(rf, tmp_path / "fused.tif", prepared[0], prepared[1:], stride=stride,
                   date_count=tmp_path / "n.tif", agreement=tmp_path / "a.tif")  # fmt: skip
    fused, count = read(tmp_path / "fused.tif")[1], read(tmp_path / "n.tif")[1]
    i = np.arange(fused.shape[0])[:, None] * stride  # each cell's window: pixels i .. i + 31
    j = np.arange(fused.shape[1])[None, :] * stride
    corner = (i < 8) & (j < 16)  # both products' DN-0 corner (make_safe): in no date
    cloudy1 = (i < 48) & (j < 48) & ~corner  # the window touches date 1's cloud
    cloudy2 = (i + 32 > 64) & (j + 32 > 64)  # ... date 2's
    assert cloudy1.any() and cloudy2.any() and not (cloudy1 & cloudy2).any()
    assert (singles[0][cloudy1] == 0).all() and (singles[1][cloudy2] == 0).all()
    assert (count == 2 - cloudy1 - cloudy2 - 2 * corner).all()
    assert (fused[corner] == 0).all() and (fused[~corner] > 0).all()
    assert np.array_equal(fused[cloudy1], singles[1][cloudy1])
    assert np.array_equal(fused[cloudy2], singles[0][cloudy2])
    assert (read(tmp_path / "a.tif")[1][cloudy1 | cloudy2] == 1.0).all()
