"""Rasters that overlap in a classify-many run (issue 24, finding 8): the run warns once,
naming the overlapping tiles and which one the mosaic shows, writes the same in
run_report.json, and the mosaic does show the tile whose name sorts last. Tiles of one
raster only touch: no warning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from helpers import write_crop

from lcz_qgis.cluster.mosaic import overlapping_pairs
from lcz_qgis.cluster.run import ManyOptions, classify_many, plan_run
from lcz_qgis.cluster.tasks import tile_path
from lcz_qgis.common.feedback import RecordingFeedback


@pytest.fixture(scope="module")
def overlapping(sample_dir, tmp_path_factory) -> dict:
    """Two 200 x 200 px crops of the sample scene, on one grid, overlapping by 100 x 100 px."""
    d = tmp_path_factory.mktemp("overlap")
    src = sample_dir / "scene_s2.tif"
    return {
        "a_west": write_crop(src, d / "a_west.tif", 0, 0, 200, 200),
        "b_east": write_crop(src, d / "b_east.tif", 100, 100, 200, 200),
    }


def test_overlapping_rasters_are_warned_about_once_and_reported(
    cluster, overlapping, rf_model, tmp_path
):
    out = tmp_path / "out"
    fb = RecordingFeedback()
    rep = classify_many([overlapping["b_east"], overlapping["a_west"]], rf_model, out,
                        ManyOptions(scheduler=cluster), fb)  # fmt: skip
    assert rep.count("done") == 2
    said = [w for w in fb.warnings if "overlap" in w]
    assert len(said) == 1, fb.warnings
    assert "1 pair(s) of tiles overlap: a_west and b_east" in said[0]
    assert "the mosaic shows the tile whose name sorts last" in said[0]
    report = json.loads((out / "run_report.json").read_text())
    assert report["overlaps"]["count"] == 1
    assert report["overlaps"]["pairs"] == [["a_west", "b_east"]]
    assert "sorts last" in report["overlaps"]["rule"]
    assert report["area_from"] == "mosaic"
    # the rule holds: where both tiles have a class, the mosaic shows b_east's
    with rasterio.open(out / "mosaic.vrt") as m, rasterio.open(tile_path(out, "b_east")) as b:
        win = rasterio.windows.from_bounds(*b.bounds, transform=m.transform)
        under = m.read(1, window=win.round_offsets().round_lengths())
        east = b.read(1)
    assert under.shape == east.shape
    assert np.array_equal(under[east > 0], east[east > 0]) and (east > 0).sum() > 100


def test_a_run_without_overlaps_reports_none(cluster, four, rf_model, tmp_path):
    fb = RecordingFeedback()
    out = tmp_path / "out"
    classify_many([four["nw"], four["ne"]], rf_model, out, ManyOptions(scheduler=cluster), fb)
    assert not [w for w in fb.warnings if "overlap" in w]
    assert json.loads((out / "run_report.json").read_text())["overlaps"] == {}


def test_tiles_of_one_raster_only_touch_and_pairs_are_counted_beyond_five(
    overlapping, rf_model, tmp_path
):
    tasks, _ = plan_run(overlapping["a_west"], rf_model, tmp_path / "plan",
                        ManyOptions(tile_size=4))  # fmt: skip
    assert len(tasks) > 9
    assert overlapping_pairs((t.name, t.crs, t.cells) for t in tasks) == ([], 0)
    # seven tiles over one box: 21 pairs, 5 named
    boxes = [(f"t{i}", "wkt", (i, 0, 10, 10)) for i in range(7)]
    pairs, count = overlapping_pairs(boxes)
    assert count == 21 and len(pairs) == 5 and pairs[0] == ("t0", "t1")
    # another CRS never overlaps
    assert overlapping_pairs([("x", "A", (0, 0, 5, 5)), ("y", "B", (0, 0, 5, 5))])[1] == 0
