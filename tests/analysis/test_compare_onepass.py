"""analysis.compare: the cross-table and agreement raster of the one streamed pass (issue
26, "Performance"), against ``np.add.at`` on the two whole arrays, across strip borders."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from helpers import write_raster

from lcz_qgis.analysis import read_map
from lcz_qgis.analysis.compare import compare_maps
from lcz_qgis.analysis.compare_groups import group_lut
from lcz_qgis.common.errors import Cancelled
from lcz_qgis.common.feedback import Feedback
from lcz_qgis.raster.io import read_lcz_map

H, W = 45, 37


def _maps(tmp_path, seed=5):
    """Two uint8 maps (A with nodata 255 and WUDAPT codes 101-107, B with nodata 0)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 18, (H, W))
    b = np.where(rng.random((H, W)) < 0.5, a, rng.integers(0, 18, (H, W)))
    raw_a = np.where(a >= 11, a + 90, np.where(a == 0, 255, a)).astype(np.uint8)
    pa = write_raster(tmp_path / "a.tif", raw_a, gtype="uint8", nodata=255)
    pb = write_raster(tmp_path / "b.tif", b.astype(np.uint8), gtype="uint8", nodata=0)
    return pa, pb, a, b


def _table(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return np.array([[int(v) for v in r[1:-1]] for r in rows[1:-1]])


@pytest.mark.parametrize("strip_cells", [None, W, W * 4])  # default, 1-row and 4-row strips
def test_cross_table_and_agreement_match_the_whole_arrays(tmp_path, monkeypatch, strip_cells):
    if strip_cells:
        monkeypatch.setattr(read_map, "STRIP_CELLS", strip_cells)
    pa, pb, a, b = _maps(tmp_path)
    progress = []

    class Seen(Feedback):
        def progress(self, percent):
            progress.append(percent)

    res = compare_maps(pa, pb, tmp_path / "agree.tif", table=tmp_path / "cross.csv",
                       feedback=Seen())  # fmt: skip
    both = (a > 0) & (b > 0)
    cm = np.zeros((17, 17), np.int64)
    np.add.at(cm, (a[both] - 1, b[both] - 1), 1)
    assert _table(tmp_path / "cross.csv").tolist() == cm.tolist()
    assert res["confusion"] == cm.tolist() and res["n"] == both.sum()
    agree, _ = read_lcz_map(tmp_path / "agree.tif")
    assert agree.tolist() == np.where(both, np.where(a == b, 1, 2), 0).tolist()
    rows = read_map.pass_rows(W)
    assert len(progress) == -(-H // rows) and progress[-1] == pytest.approx(95.0)


def test_grouped_agreement_matches_the_whole_arrays(tmp_path, monkeypatch):
    monkeypatch.setattr(read_map, "STRIP_CELLS", W * 8)
    pa, pb, a, b = _maps(tmp_path, seed=6)
    compare_maps(pa, pb, tmp_path / "agree.tif", groups="built-natural")
    lut = group_lut("built-natural")
    both = (a > 0) & (b > 0)
    agree, _ = read_lcz_map(tmp_path / "agree.tif")
    assert agree.tolist() == np.where(both, np.where(lut[a] == lut[b], 1, 2), 0).tolist()
    assert (agree == 1).sum() > (np.where(both, a == b, False)).sum()  # groups agree more


def test_a_cancelled_comparison_keeps_the_old_outputs(tmp_path, monkeypatch):
    monkeypatch.setattr(read_map, "STRIP_CELLS", W * 4)
    pa, pb, _, _ = _maps(tmp_path)
    out, table = tmp_path / "agree.tif", tmp_path / "cross.csv"
    out.write_bytes(b"old raster")
    table.write_text("old table")

    class CancelLater(Feedback):
        calls = 0

        def is_cancelled(self):
            self.calls += 1
            return self.calls > 3  # after 3 of 12 strips

    with pytest.raises(Cancelled):
        compare_maps(pa, pb, out, table=table, feedback=CancelLater())
    assert out.read_bytes() == b"old raster" and table.read_text() == "old table"
    assert not list(tmp_path.glob("*partial*"))
