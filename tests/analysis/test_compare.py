"""analysis.compare and lcz compare-maps: cross-table from the two arrays, kappa by its
formula, the coarser grid, the agreement raster."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from helpers import write_raster

from lcz_qgis.analysis.compare import compare_maps
from lcz_qgis.cli import main
from lcz_qgis.common.errors import LczError
from lcz_qgis.raster.io import read_lcz_map

GT = (690000.0, 10.0, 0.0, 5340000.0, 0.0, -10.0)


def _maps(tmp_path):
    rng = np.random.default_rng(3)
    a = rng.integers(1, 18, (40, 50))
    b = np.where(rng.random((40, 50)) < 0.6, a, rng.integers(1, 18, (40, 50)))
    a[0, :5] = 0  # nodata in the reference
    raw_b = np.where(b >= 11, b + 90, b).astype(np.float32)  # map B in WUDAPT codes
    raw_b[1, :3] = -1
    b[1, :3] = 0
    pa = write_raster(tmp_path / "a.tif", a.astype(np.uint8), gtype="uint8", nodata=0)
    pb = write_raster(tmp_path / "b.tif", raw_b, nodata=-1)
    return pa, pb, a, b


def _table(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array([[int(v) for v in r[1:-1]] for r in rows[1:-1]])


def test_cross_table_scores_and_agreement_from_the_two_arrays(tmp_path):
    pa, pb, a, b = _maps(tmp_path)
    res = compare_maps(pa, pb, tmp_path / "agree.tif", table=tmp_path / "cross.csv")
    both = (a > 0) & (b > 0)
    cm = np.zeros((17, 17), int)
    for r, c in zip(a[both], b[both]):
        cm[r - 1, c - 1] += 1
    header, table = _table(tmp_path / "cross.csv")
    assert header[1] == "LCZ 1" and header[11] == "LCZ A" and header[-1] == "total"
    assert table.tolist() == cm.tolist()
    n = cm.sum()
    po = np.trace(cm) / n
    pe = (cm.sum(1) * cm.sum(0)).sum() / n**2
    assert res["oa"] == pytest.approx(po)
    assert res["kappa"] == pytest.approx((po - pe) / (1 - pe))
    assert res["oa_bu"] == pytest.approx((cm[:10, :10].sum() + cm[10:, 10:].sum()) / n)
    agree, _ = read_lcz_map(tmp_path / "agree.tif")
    expected = np.where(both, np.where(a == b, 1, 2), 0)
    assert agree.tolist() == expected.tolist()
    assert "same grid" in res["note"]


def test_the_finer_map_is_resampled_onto_the_coarser_grid(tmp_path):
    coarse = np.random.default_rng(1).integers(1, 18, (10, 12))
    fine = np.kron(coarse, np.ones((2, 2), int))  # the same map at 5 m
    fine[0, 0] = 5  # one sub-cell differs; nearest neighbour takes the cell centre's
    pc = write_raster(tmp_path / "c.tif", coarse.astype(np.uint8), gtype="uint8")
    pf = write_raster(tmp_path / "f.tif", fine.astype(np.uint8), gtype="uint8",
                      gt=(690000.0, 5.0, 0.0, 5340000.0, 0.0, -5.0))  # fmt: skip
    res = compare_maps(pf, pc, tmp_path / "agree.tif")
    assert "reference" in res["note"] and "coarser grid" in res["note"]
    agree, info = read_lcz_map(tmp_path / "agree.tif")
    assert (info.width, info.height, info.geotransform[1]) == (12, 10, 10.0)
    assert res["n"] == 120 and res["oa"] == 1.0  # (0, 0)'s centre is in another sub-cell


def test_cli_prints_the_scores_and_bad_input_is_one_line(tmp_path, capsys):
    pa, pb, _, _ = _maps(tmp_path)
    out = tmp_path / "agree.tif"
    assert main(["compare-maps", "--reference", str(pa), "--map", str(pb),
                 "--output", str(out)]) == 0  # fmt: skip
    assert '"kappa"' in capsys.readouterr().out
    before = out.read_bytes()
    far = write_raster(tmp_path / "far.tif", np.ones((4, 4), np.uint8), gtype="uint8",
                       gt=(0.0, 10.0, 0.0, 100.0, 0.0, -10.0))  # fmt: skip
    assert main(["compare-maps", "--reference", str(pa), "--map", str(far),
                 "--output", str(out)]) == 2  # fmt: skip
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and err[0].endswith(
        "share no cell where both hold an LCZ; do they cover the same place?"
    )
    assert out.read_bytes() == before
    with pytest.raises(LczError, match="give a .tif name"):
        compare_maps(pa, pb, tmp_path / "a.png")


def test_processing_run(tmp_path, run_alg):
    pa, pb, _, _ = _maps(tmp_path)
    res = run_alg("lcz:comparemaps", {"REFERENCE": str(pa), "MAP": str(pb),
                                      "OUTPUT": str(tmp_path / "agree.tif")})  # fmt: skip
    direct = compare_maps(pa, pb, tmp_path / "again.tif")
    assert res["KAPPA"] == pytest.approx(direct["kappa"])
