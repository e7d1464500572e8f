"""OFFSET in classify-many (issue 24, "Scale"): the workers apply it (the JobConfig carries
it), so tiles of a raw DN + 1000 raster read with 0.0001 and -1000 mosaic to the map of
the reflectance; it is part of each task's key (another offset redoes the tiles); an
offset without a stated factor is refused before any folder, lock or worker."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import rasterio
from helpers import write_raster
from osgeo import gdal

from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cluster.run import ManyOptions, classify_many, plan_run
from lcz_qgis.common.errors import LczError
from lcz_qgis.models.modelfile import load_model


@pytest.fixture(scope="module")
def pair(sample_dir, tmp_path_factory):
    """A 200 x 200 px crop of the sample scene as DN + 1000 (uint16, nodata 0) and as the
    reflectance those values stand for (float32, nodata -9999)."""
    d = tmp_path_factory.mktemp("many_offset")
    with rasterio.open(sample_dir / "scene_s2.tif") as ds:
        src = np.moveaxis(ds.read(window=((0, 200), (0, 200))), 0, -1)
        gt = ds.transform.to_gdal()
    nodata = src == -9999
    nodata[60:130, 60:130] = True
    dn = np.maximum(np.rint(src * 1e4), 0)
    raw = write_raster(d / "raw.tif", np.where(nodata, 0, dn + 1000), gt=gt, nodata=0,
                       gtype=gdal.GDT_UInt16)  # fmt: skip
    ref = np.where(nodata, -9999, dn.astype(np.float32) * np.float32(1e-4))
    return raw, write_raster(d / "ref.tif", ref, gt=gt, nodata=-9999)


def test_workers_apply_the_offset(cluster, pair, rf_model, tmp_path):
    whole = classify_raster(load_model(rf_model), tmp_path / "ref.tif", pair[1],
                            scale="reflectance")  # fmt: skip
    opts = ManyOptions(scheduler=cluster, tile_size=10, scale="0.0001", offset=-1000)
    rep = classify_many(pair[0], rf_model, tmp_path / "out", opts)
    assert (rep.count("done"), rep.count("failed")) == (4, 0)
    with rasterio.open(tmp_path / "out" / "mosaic.vrt") as m, rasterio.open(whole.output) as w:
        mosaic, ref = m.read(1), w.read(1)
        assert m.transform == w.transform
    assert np.array_equal(mosaic, ref) and (ref > 0).sum() > 100 and (ref[7:12, 7:12] == 0).all()


def test_the_offset_is_part_of_the_task_key_and_is_checked_first(pair, rf_model, tmp_path):
    tasks, job = plan_run(pair[0], rf_model, tmp_path / "k", ManyOptions(scale="dn"))
    assert job.offset == 0.0
    with_offset = replace(job, offset=-1000.0)
    assert job.task_key(tasks[0]) != with_offset.task_key(tasks[0])
    for scale, offset, what in (("auto", -1000, "needs a stated factor"),
                                ("dn", float("inf"), "not a finite number")):  # fmt: skip
        folder = tmp_path / f"refused_{scale}"
        with pytest.raises(LczError, match=what):
            classify_many(pair[0], rf_model, folder, ManyOptions(scale=scale, offset=offset))
        assert not folder.exists()
