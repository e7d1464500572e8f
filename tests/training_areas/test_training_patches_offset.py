"""OFFSET in training-patches (issue 24, "Scale"): patches of a raster of raw values
(reflectance x factor + 1000, nodata 0) read with the factor and OFFSET -1000 are the
patches of the reflectance itself, value for value, with the same windows skipped for
nodata; an offset without a stated factor is refused before anything is written."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import rasterio
from helpers import write_raster
from osgeo import gdal

from lcz_qgis.cli import main as lcz_main
from lcz_qgis.common.errors import LczError
from lcz_qgis.training_areas import training_area_patches

EXACT = 2.0**-13  # a factor float32 and float64 both hold exactly: bit-identical patches
HOLE = (slice(150, 260), slice(150, 260))  # a nodata block in every raster


@pytest.fixture(scope="module")
def rasters(city, tmp_path_factory):
    """Raw rasters (DN + 1000 for the factors 0.0001 and ``EXACT``, uint16, nodata 0),
    the same DN without offset, and the reflectance ``EXACT`` stands for (float32)."""
    d = tmp_path_factory.mktemp("patch_offset")
    with rasterio.open(city / "scene_s2.tif") as ds:
        src = np.moveaxis(ds.read(), 0, -1)
        gt = ds.transform.to_gdal()
    nodata = src == -9999
    nodata[HOLE] = True
    out = {}
    for name, factor in (("dn", 1e-4), ("exact", EXACT)):
        dn = np.maximum(np.rint(src / factor), 1)  # >= 1: 0 is the nodata
        for key, add in ((f"{name}+1000", 1000), (name, 0)):
            out[key] = write_raster(d / f"{key}.tif", np.where(nodata, 0, dn + add),
                                    gt=gt, nodata=0, gtype=gdal.GDT_UInt16)  # fmt: skip
        if name == "exact":
            ref = np.where(nodata, -9999, dn.astype(np.float32) * np.float32(EXACT))
            out["reflectance"] = write_raster(d / "refl.tif", ref, gt=gt, nodata=-9999)
    return out


def _patches(city, sentinel2, out, **kw):
    r = training_area_patches(city / "areas.gpkg", sentinel2, out, **kw)
    with h5py.File(out) as f, h5py.File(r.geo) as g:
        return r, f["sen2"][:], f["label"][:], g["coord"][:], dict(f.attrs)


def test_offset_patches_are_the_reflectance_patches(city, rasters, tmp_path):
    r, x, lab, xy, attrs = _patches(city, rasters["exact+1000"], tmp_path / "o.h5",
                                    scale=str(EXACT), offset=-1000)  # fmt: skip
    _, x_ref, lab_ref, xy_ref, _ = _patches(city, rasters["reflectance"], tmp_path / "r.h5",
                                            scale="reflectance")  # fmt: skip
    assert r.n_patches > 50 and r.n_nodata > 0  # the nodata block skips windows
    assert np.array_equal(xy, xy_ref) and np.array_equal(lab, lab_ref)
    assert np.array_equal(x, x_ref)  # bit for bit
    assert attrs["offset"] == -1000 and attrs["scale"] == EXACT
    # the Sentinel-2 L2A case: 0.0001 and -1000 give the patches of the DN with 0.0001
    _, x_dn, *_ = _patches(city, rasters["dn+1000"], tmp_path / "d.h5", scale="0.0001",
                           offset=-1000)  # fmt: skip
    _, x_plain, *_ = _patches(city, rasters["dn"], tmp_path / "p.h5", scale="0.0001")
    assert np.array_equal(x_dn, x_plain) and 0 < x_dn.mean() < 0.5


def test_cli_offset_and_refusal(city, rasters, tmp_path, capsys):
    base = ["training-patches", "--areas", str(city / "areas.gpkg"), "--sentinel2"]
    out = tmp_path / "cli.h5"
    assert lcz_main([*base, str(rasters["dn+1000"]), "--scale", "dn", "--offset", "-1000",
                     "--output", str(out)]) == 0  # fmt: skip
    _, x_plain, *_ = _patches(city, rasters["dn"], tmp_path / "p.h5", scale="dn")
    with h5py.File(out) as f:
        assert np.array_equal(f["sen2"][:], x_plain)
    capsys.readouterr()
    bad = tmp_path / "bad.h5"
    assert lcz_main([*base, str(rasters["dn+1000"]), "--offset", "-1000",
                     "--output", str(bad)]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--offset -1000 needs a stated factor" in err[0]
    with pytest.raises(LczError, match="offset -1000 needs a stated factor"):
        training_area_patches(city / "areas.gpkg", rasters["dn+1000"], bad, scale="reflectance",
                              offset=-1000)  # fmt: skip
    assert not bad.exists() and not (tmp_path / "bad_geo.h5").exists()


def test_map_from_areas_takes_the_offset_and_checks_it_before_step_1(city, tmp_path, capsys):
    """map-from-areas passes OFFSET to its patches and its map; an offset without a stated
    factor is one line before anything is written."""
    from lcz_qgis.training_areas.workflow import MapRequest, _check_options

    out = tmp_path / "lcz.tif"
    args = ["map-from-areas", "--areas", str(city / "areas.gpkg"), "--sentinel2",
            str(city / "scene_s2.tif"), "--output", str(out), "--offset", "-1000"]  # fmt: skip
    assert lcz_main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--offset -1000 needs a stated factor" in err[0]
    assert not out.exists() and list(tmp_path.iterdir()) == []
    req = MapRequest(areas="a", sentinel2="s", output="o", scale="dn", offset=float("nan"))
    with pytest.raises(LczError, match="offset"):
        _check_options(req)
