"""Cloud-free composite: SAFE-like dates with clouds at different places -> per-pixel
median / percentiles of the valid dates, equal to numpy's on the per-date stacks of
prepare-s2; the count band; bad inputs; the CLI and Processing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from helpers import band_file, make_safe_date, safe_in_crs, zip_safe

from lcz_qgis.common.bands import SEN2_BANDS
from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.raster.io import gdal
from lcz_qgis.sentinel.composite import composite_block, composite_sentinel2, sorting_network
from lcz_qgis.sentinel.prepare_s2 import CLOUD_CLASSES, NODATA, SO2SAT_TO_ESA, prepare_sentinel2

COMMON = (50, 50, 8)  # clouded in every date: no valid date there
CLOUDS = [  # (row, col, size[, SCL class]) per date, 10 m pixels
    [(10, 10, 16), (40, 2, 8, 3), COMMON],
    [(20, 20, 16, 8), COMMON],
    [(30, 30, 20, 10), COMMON],
    [(0, 30, 20), (14, 14, 8), COMMON],
]


@pytest.fixture(scope="module")
def dates(tmp_path_factory):
    """Four L2A dates and, per date, prepare-s2's cloud-masked stack with NaN for nodata."""
    root = tmp_path_factory.mktemp("composite")
    safes, stacks = [], []
    for i, clouds in enumerate(CLOUDS):
        safe = make_safe_date(root, f"202307{10 + i}", clouds, seed=i)
        prepare_sentinel2(safe, root / f"prepared_{i}.tif")
        with rasterio.open(root / f"prepared_{i}.tif") as ds:
            arr = ds.read().astype(np.float64)
        arr[arr == NODATA] = np.nan
        safes.append(safe)
        stacks.append(arr)
    return root, safes, np.stack(stacks)


def _read(path):
    """(what a user checks of the raster: descriptions, nodata, types, grid; its pixels)."""
    with rasterio.open(path) as ds:
        info = SimpleNamespace(descriptions=ds.descriptions, nodata=ds.nodata,
                               dtypes=ds.dtypes, transform=ds.transform)  # fmt: skip
        return info, ds.read()


@pytest.mark.parametrize("method, q", [("median", 50), ("p25", 25), ("p75", 75)])
def test_composite_equals_numpy_percentile_of_the_valid_dates(dates, tmp_path, method, q):
    _, safes, truth = dates
    out = tmp_path / "c.tif"
    res = composite_sentinel2(safes, out, method=method)
    ds, got = _read(out)
    _, count = _read(tmp_path / "c_count.tif")
    assert got.shape == (10, 64, 64) and ds.dtypes[0] == "float32" and ds.nodata == NODATA
    assert list(ds.descriptions) == list(SEN2_BANDS)  # lcz classify reads it as is
    assert ds.transform.to_gdal() == (690000.0, 10.0, 0.0, 5340000.0, 0.0, -10.0)
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = np.nanpercentile(truth, q, axis=0) if q != 50 else np.nanmedian(truth, axis=0)
    n_valid = np.isfinite(truth[:, 0]).sum(axis=0)
    assert (count[0] == n_valid).all()
    # clouds move: 1, 2, 3 and 4 valid dates all occur
    assert set(np.unique(count[0])) == {0, 1, 2, 3, 4}
    rng = np.random.default_rng(0)
    rr, cc = rng.integers(0, 64, 300), rng.integers(0, 64, 300)
    for r, c in zip(rr, cc):
        if n_valid[r, c]:
            np.testing.assert_allclose(got[:, r, c], want[:, r, c], rtol=1e-6, atol=1e-7)
    ok = n_valid > 0
    np.testing.assert_allclose(got[:, ok], want[:, ok], rtol=1e-6, atol=1e-7)
    # no valid date (DN 0 corner, the cloud square of every date) -> nodata, count 0
    assert (got[:, :8, :16] == NODATA).all() and (got[:, 50:58, 50:58] == NODATA).all()
    assert (count[0, 50:58, 50:58] == 0).all()
    assert res.nodata_fraction == pytest.approx((~ok).mean())
    assert res.qml.exists() and "multibandcolor" in res.qml.read_text()
    assert res.count_qml.exists()


def test_composite_block_matches_numpy_for_any_number_of_dates():
    rng = np.random.default_rng(3)
    for d in (1, 2, 3, 5, 6, 9):
        values = rng.random((d, 2, 7, 9)).astype(np.float32)
        valid = rng.random((d, 7, 9)) > 0.35
        valid[:, 0, 0] = False
        ref = np.where(valid[:, None], values, np.nan).astype(np.float64)
        for q in (0, 25, 50, 60, 100):
            got, n = composite_block(values.copy(), valid, q)
            with np.errstate(all="ignore"):
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    want = np.nanpercentile(ref, q, axis=0)
            assert (n == valid.sum(0)).all() and (got[:, n == 0] == NODATA).all()
            m = n > 0
            np.testing.assert_allclose(got[:, m], want[:, m], rtol=1e-6, err_msg=f"{d} {q}")
        for i, j in sorting_network(d):
            assert 0 <= i < j < d


def test_composite_block_by_chunks_matches_numpy_with_and_without_invalid_dates(monkeypatch):
    from lcz_qgis.sentinel import composite

    monkeypatch.setattr(composite, "CHUNK_PIXELS", 10)  # 63 pixels: 7 chunks, a short last one
    rng = np.random.default_rng(4)
    for d in (1, 2, 4, 6, 7):
        values = (rng.random((d, 3, 7, 9)) - 0.1).astype(np.float32)  # some below 0
        valid = rng.random((d, 7, 9)) > 0.3
        valid[:, :3] = True  # chunks 0 and 1: every date valid
        invalid = ~np.broadcast_to(valid[:, None], values.shape)
        values[invalid] = np.nan  # what an unreadable date may hold
        valid[:, 3, 3] = False
        ref = np.where(valid[:, None], values, np.nan).astype(np.float64)
        for q in (0, 25, 50, 75, 100):
            got, n = composite_block(values.copy(), valid, q)
            with np.errstate(all="ignore"):
                import warnings

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    want = np.nanpercentile(ref, q, axis=0)
            assert (n == valid.sum(0)).all() and (got[:, n == 0] == NODATA).all()
            m = n > 0
            np.testing.assert_allclose(got[:, m], want[:, m], rtol=1e-6, atol=1e-7,
                                       err_msg=f"{d} {q}")  # fmt: skip


def test_a_fully_cloudy_date_warns_and_contributes_nothing(dates, tmp_path):
    root, safes, _ = dates
    cloudy = make_safe_date(tmp_path, "20230801", [(0, 0, 64)], seed=9)
    fb = RecordingFeedback()
    composite_sentinel2([*safes[:2], cloudy], tmp_path / "a.tif", feedback=fb)
    composite_sentinel2(safes[:2], tmp_path / "b.tif")
    assert any(cloudy.name in w and "contributes nothing" in w for w in fb.warnings)
    assert (_read(tmp_path / "a.tif")[1] == _read(tmp_path / "b.tif")[1]).all()
    assert (_read(tmp_path / "a_count.tif")[1] == _read(tmp_path / "b_count.tif")[1]).all()


def _with_fill(src: Path, dst: Path, blocks, nodata) -> Path:
    """A copy of the stack ``src`` whose ``blocks`` ((rows, cols, bands, value)) hold an
    undeclared float fill value; ``nodata``: the copy's declared nodata (None: its nodata
    pixels hold 3e38 as well, undeclared, as many tools write them)."""
    with rasterio.open(src) as ds:
        profile, arr = ds.profile, ds.read()
    if nodata is None:
        arr[arr == NODATA] = np.float32(3e38)
    for rows, cols, bands, value in blocks:
        arr[bands, rows, cols] = np.float32(value)
    profile["nodata"] = nodata
    with rasterio.open(dst, "w", **profile) as out:
        out.write(arr)
        out.descriptions = tuple(SEN2_BANDS)
    return dst


@pytest.mark.parametrize("nodata", [NODATA, None])
def test_undeclared_float_fill_values_are_not_valid_dates(dates, tmp_path, nodata):
    root = dates[0]
    a = root / "prepared_0.tif"  # valid in both blocks, and so is prepared_1
    big, lowest = (slice(28, 36), slice(40, 48)), (slice(2, 6), slice(30, 40))
    blocks = [(*big, slice(None), 3e38), (*lowest, [4], np.finfo(np.float32).min)]
    b = _with_fill(root / "prepared_1.tif", tmp_path / "filled.tif", blocks, nodata)
    res = composite_sentinel2([a, b], tmp_path / "c.tif")
    before = composite_sentinel2([a, root / "prepared_1.tif"], tmp_path / "clean.tif")
    _, got = _read(tmp_path / "c.tif")
    _, count = _read(tmp_path / "c_count.tif")
    _, alone = _read(a)
    _, clean = _read(tmp_path / "clean.tif")
    _, clean_count = _read(tmp_path / "clean_count.tif")
    filled = np.zeros(count.shape[1:], bool)
    for rows, cols, *_ in blocks:
        filled[rows, cols] = True
        # the first date alone, to the byte; one valid date
        assert got[:, rows, cols].tobytes() == alone[:, rows, cols].tobytes()
        assert (count[0, rows, cols] == 1).all() and (clean_count[0, rows, cols] == 2).all()
    assert (np.abs(got[got != NODATA]) <= 2).all()  # no 1.5e38 anywhere
    assert got[:, ~filled].tobytes() == clean[:, ~filled].tobytes()  # the rest as before
    assert (count[0][~filled] == clean_count[0][~filled]).all()
    # the filled pixels no longer count as valid for that date
    assert (
        res.valid_fraction[1] * count[0].size
        == before.valid_fraction[1] * count[0].size - filled.sum()
    )


def test_offsets_are_harmonised_across_processing_baselines(tmp_path):
    new = make_safe_date(tmp_path, "20230710", seed=5)
    old = make_safe_date(tmp_path / "old", "20210710", seed=5, baseline="02.14")
    prepare_sentinel2(new, tmp_path / "new.tif")
    composite_sentinel2([old, new], tmp_path / "c.tif")
    _, got = _read(tmp_path / "c.tif")
    _, want = _read(tmp_path / "new.tif")  # the same scene: the composite is that scene
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert (want[:, 20:30, 20:30] > 0.005).all()  # reflectance, not DN or DN - 1000


def _shifted_stack(src: Path, dst: Path, dx: float, dy: float) -> Path:
    with rasterio.open(src) as ds:
        profile, arr = ds.profile, ds.read()
        t = ds.transform
    profile["transform"] = rasterio.Affine(t.a, 0, t.c + dx, 0, t.e, t.f + dy)
    with rasterio.open(dst, "w", **profile) as out:
        out.write(arr)
        out.descriptions = tuple(SEN2_BANDS)
    return dst


def test_a_date_on_another_grid_is_warped_with_a_note(dates, tmp_path):
    root, _, truth = dates
    a = root / "prepared_0.tif"
    b = _shifted_stack(root / "prepared_1.tif", tmp_path / "shifted.tif", 40.0, -20.0)
    fb = RecordingFeedback()
    composite_sentinel2([a, b], tmp_path / "c.tif", feedback=fb)
    assert any("shifted.tif" in m and "warped" in m for m in fb.messages)
    _, got = _read(tmp_path / "c.tif")
    _, count = _read(tmp_path / "c_count.tif")
    # b's pixel (r, c) lies on the first grid at (r + 2, c + 4): compare inside
    moved = np.full_like(truth[1], np.nan)
    moved[:, 2:, 4:] = truth[1][:, :-2, :-4]
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = np.nanmedian(np.stack([truth[0], moved]), axis=0)
    inner = (slice(None), slice(4, -4), slice(6, -4))
    w, g = want[inner], got[inner]
    ok = np.isfinite(w)
    np.testing.assert_allclose(g[ok], w[ok], rtol=1e-6, atol=1e-7)
    assert (count[0, :, :4] <= 1).all()  # b does not cover the first 4 columns


def test_zipped_products_composite_like_the_unzipped_ones(dates, tmp_path):
    _, safes, _ = dates
    zips = [zip_safe(s, tmp_path / f"{s.stem}.zip") for s in safes[:2]]
    assert not (tmp_path / safes[0].name).exists()  # the zips alone, no folder beside
    fb = RecordingFeedback()
    res = composite_sentinel2([zips[0], zips[1], safes[2]], tmp_path / "z.tif", feedback=fb)
    composite_sentinel2(safes[:3], tmp_path / "u.tif")
    zi, z = _read(tmp_path / "z.tif")
    ui, u = _read(tmp_path / "u.tif")
    np.testing.assert_array_equal(z, u)
    np.testing.assert_array_equal(_read(tmp_path / "z_count.tif")[1],
                                  _read(tmp_path / "u_count.tif")[1])  # fmt: skip
    assert zi.transform == ui.transform and list(zi.descriptions) == list(SEN2_BANDS)
    assert set(np.unique(_read(tmp_path / "z_count.tif")[1])) == {0, 1, 2, 3}
    assert res.dates[:2] == [zp.name for zp in zips] and res.level == "L2A"
    # each zip's own radiometry was read from the MTD file inside it
    assert all(any(zp.name in m and "offsets [-1000.0]" in m for m in fb.messages) for zp in zips)


def _warped_onto(safe: Path, ref: Path) -> np.ndarray:
    """A product's reflectance warped by gdal.Warp onto the grid of the stack ``ref``
    (bands bilinear, SCL nearest, as the composite says), NaN where not valid."""
    g = gdal()
    with rasterio.open(ref) as ds:
        crs, bounds, (h, w) = ds.crs.to_wkt(), tuple(ds.bounds), ds.shape

    def warp(band, alg):
        out = g.Warp("", str(band_file(safe, band)), format="MEM", dstSRS=crs, width=w,
                     height=h, outputBounds=bounds, resampleAlg=alg, srcNodata=0, dstNodata=0,
                     outputType=g.GDT_Float32)  # fmt: skip
        return out.ReadAsArray().astype(np.float64)

    dn = np.stack([warp(SO2SAT_TO_ESA[b], "bilinear") for b in SEN2_BANDS])
    valid = (dn != 0).all(axis=0) & ~np.isin(warp("SCL", "near"), CLOUD_CLASSES)
    return np.where(valid[None], (dn - 1000) / 10000, np.nan)  # baseline 05.09: offset -1000


def test_a_date_in_another_utm_zone_is_warped_onto_the_first_grid(dates, tmp_path):
    root, safes, truth = dates
    # the second date: a product of its own (seed 7, a cloud elsewhere) in UTM zone 33N,
    # its footprint 200 m east and 100 m south of the first's: about 4.5 degrees rotated
    other = make_safe_date(tmp_path, "20230805", [(40, 40, 16)], seed=7)
    safe_in_crs(other, 32633, shift=(200.0, -100.0))
    with rasterio.open(band_file(other, "B02")) as ds:
        assert ds.crs.to_epsg() == 32633
    fb = RecordingFeedback()
    res = composite_sentinel2([safes[0], other], tmp_path / "c.tif", feedback=fb)
    assert any(other.name in m and "warped onto the first date's grid" in m for m in fb.messages)
    assert not any(safes[0].name in m and "warped" in m for m in fb.messages)
    assert any(other.name in m and "the rest gets nothing from it" in m for m in fb.messages)
    info, got = _read(tmp_path / "c.tif")
    with rasterio.open(tmp_path / "c.tif") as ds:
        assert ds.crs.to_epsg() == 32632 and ds.shape == (64, 64)  # the first date's grid
    assert info.transform.to_gdal() == (690000.0, 10.0, 0.0, 5340000.0, 0.0, -10.0)
    assert res.transform == info.transform.to_gdal()
    _, count = _read(tmp_path / "c_count.tif")
    first = truth[0]  # prepare-s2's stack of the first date
    second = _warped_onto(other, root / "prepared_0.tif")
    n_valid = np.isfinite(first[0]).astype(int) + np.isfinite(second[0])
    np.testing.assert_array_equal(count[0], n_valid)
    # the overlap: both dates in its middle, the first alone west and north of it, the
    # second alone where the first is cloudy or DN 0
    assert (count[0, 30:, 30:40] == 2).all() and (count[0, 20:, :15] <= 1).all()
    assert (~np.isfinite(first[0]) & np.isfinite(second[0])).sum() > 20
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = np.nanmedian(np.stack([first, second]), axis=0)
    ok = n_valid > 0
    # where the first date alone is valid, exactly; where the warped second date counts,
    # on GDAL 3.10 within 0.02: its bilinear warp (Debian 13) differs from 3.6's by up to 0.016
    # between the reference gdal.Warp and the composite's own warped reads
    first_only = ok & np.isfinite(first[0]) & ~np.isfinite(second[0])
    np.testing.assert_allclose(got[:, first_only], want[:, first_only], rtol=1e-6, atol=1e-6)
    warp_atol = 1e-6 if rasterio.__gdal_version__ < "3.10" else 0.02
    np.testing.assert_allclose(got[:, ok], want[:, ok], rtol=1e-6, atol=warp_atol)
    assert (got[:, ~ok] == NODATA).all()
    # the second date does change the pixels both see (its own DN pattern)
    both = n_valid == 2
    assert np.abs(got[:, both] - first[:, both]).max() > 0.01


def test_a_date_that_does_not_overlap_is_refused(dates, tmp_path):
    root, _, _ = dates
    far = _shifted_stack(root / "prepared_1.tif", tmp_path / "far.tif", 100_000.0, 0.0)
    with pytest.raises(LczError, match="far.tif.*does not overlap"):
        composite_sentinel2([root / "prepared_0.tif", far], tmp_path / "c.tif")
    assert not list(tmp_path.glob("c*"))


def test_mixed_l1c_and_l2a_are_refused_l1c_alone_works_unmasked(dates, tmp_path):
    _, safes, _ = dates
    l1c = make_safe_date(tmp_path, "20230720", [(0, 0, 20)], seed=1, level="L1C")
    with pytest.raises(LczError, match="mixes L1C.*L2A"):
        composite_sentinel2([safes[0], l1c], tmp_path / "c.tif")
    l1c_b = make_safe_date(tmp_path, "20230721", seed=2, level="L1C")
    fb = RecordingFeedback()
    res = composite_sentinel2([l1c, l1c_b], tmp_path / "l1c.tif", feedback=fb)
    assert res.level == "L1C" and any("no SCL" in w for w in fb.warnings)
    _, count = _read(tmp_path / "l1c_count.tif")
    assert (count[0, 10:20, 10:20] == 2).all()  # no cloud mask


def test_bad_inputs_are_one_line_errors(dates, tmp_path):
    root, safes, _ = dates
    with pytest.raises(LczError, match="at least two"):
        composite_sentinel2([safes[0]], tmp_path / "c.tif")
    with pytest.raises(LczError, match="twice"):
        composite_sentinel2([safes[0], safes[0]], tmp_path / "c.tif")
    with pytest.raises(LczError, match="does not exist"):
        composite_sentinel2([safes[0], tmp_path / "nope.SAFE"], tmp_path / "c.tif")
    with pytest.raises(LczError, match="unknown composite method"):
        composite_sentinel2(safes[:2], tmp_path / "c.tif", method="mean")
    one_band = tmp_path / "one.tif"
    with rasterio.open(root / "prepared_0.tif") as ds:
        profile = {**ds.profile, "count": 1}
        arr = ds.read(1)
    with rasterio.open(one_band, "w", **profile) as out:
        out.write(arr, 1)
    with pytest.raises(LczError, match="1 band"):
        composite_sentinel2([safes[0], one_band], tmp_path / "c.tif")
    with pytest.raises(LczError, match="is the input"):
        composite_sentinel2([root / "prepared_0.tif", safes[1]], root / "prepared_0.tif")
    assert not list(tmp_path.glob("c*"))


def test_cancel_leaves_nothing_and_keeps_an_earlier_output(dates, tmp_path, monkeypatch):
    from lcz_qgis.sentinel import composite

    _, safes, _ = dates
    out = tmp_path / "c.tif"
    out.write_bytes(b"earlier")
    whole = composite.windows_of
    monkeypatch.setattr(composite, "windows_of", lambda w, h, n, block: whole(w, h, n, (16, 16)))
    fb = RecordingFeedback(cancel_at=30)
    with pytest.raises(Cancelled):
        composite_sentinel2(safes, out, feedback=fb)
    assert 30 <= fb.percents[-1] < 99  # cancelled half-way through the windows
    assert out.read_bytes() == b"earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.tif"]


def test_cli_composite_and_its_bad_input(dates, tmp_path, capsys):
    from lcz_qgis.cli import main

    root, safes, _ = dates
    out = tmp_path / "cli.tif"
    argv = ["composite-s2", "--input", str(safes[0]), str(root / "prepared_1.tif")]
    assert main([*argv, "--method", "p75", "--output", str(out)]) == 0
    assert "p75 of 2 dates" in capsys.readouterr().out
    assert out.exists() and (tmp_path / "cli_count.tif").exists()
    assert main(["composite-s2", "--input", str(safes[0]), "--output", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "at least two" in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.qgis
def test_processing_run_writes_the_composite_and_the_count(dates, run_alg, tmp_path):
    root, safes, truth = dates
    out, count = tmp_path / "q.tif", tmp_path / "q_n.tif"
    res = run_alg(
        "lcz:compositesentinel2",
        {"INPUT": [str(s) for s in safes[:3]], "METHOD": 0, "OUTPUT": str(out),
         "COUNT": str(count)},
    )  # fmt: skip
    assert Path(res["OUTPUT"]) == out and Path(res["COUNT"]) == count
    _, n = _read(count)
    assert (n[0] == np.isfinite(truth[:3, 0]).sum(axis=0)).all()
    assert (out.with_suffix(".qml")).exists()


@pytest.mark.qgis
def test_processing_names_the_composite_layer_by_its_statistic(dates, qgis_app, tmp_path):
    from helpers import run_and_load

    root, safes, truth = dates
    out = tmp_path / "p25.tif"
    _, layers = run_and_load(
        "lcz:compositesentinel2",
        {"INPUT": [str(s) for s in safes[:2]], "METHOD": 1, "OUTPUT": str(out)},
    )
    assert (
        layers["p25.tif"].name()
        == "Sentinel-2 composite (percentile 25) \u2013 2023-07-10 to 07-11"
    )
