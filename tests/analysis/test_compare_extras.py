"""lcz compare-maps extras: agreement by confidence, the change matrix and transitions of
two dates, grouped classes and the HTML report; every number recomputed from the arrays."""

from __future__ import annotations

import base64
import csv
import io
import json
import re

import numpy as np
import pytest
from helpers import write_raster

from lcz_qgis.analysis.compare import compare_maps
from lcz_qgis.cli import main
from lcz_qgis.common.errors import LczError
from lcz_qgis.raster.io import read_lcz_map

H, W = 40, 50
BUILT = np.array([0] + [1] * 10 + [2] * 7)  # code -> built-natural group
COMPACT = np.array([0, 1, 1, 1, 2, 2, 2] + [3] * 11)  # code -> compact-open-other


def _two_dates(tmp_path, seed=3):
    """Reference (earlier) and map (later) codes with nodata in each and planted changes."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 18, (H, W))
    b = np.where(rng.random((H, W)) < 0.6, a, rng.integers(1, 18, (H, W)))
    a[10:20, :30], b[10:20, :30] = 14, 8  # planted: low plants -> large low-rise
    a[20:25, :20], b[20:25, :20] = 12, 6  # scattered trees -> open low-rise
    a[0, :5] = 0
    b[1, :3] = 0
    pa = write_raster(tmp_path / "a.tif", a.astype(np.uint8), gtype="uint8", nodata=0)
    pb = write_raster(tmp_path / "b.tif", b.astype(np.uint8), gtype="uint8", nodata=0)
    return pa, pb, a, b


def _confidence(tmp_path, kind, seed=4):
    """A confidence raster on the maps' grid: float 0-1 (nodata -1) or byte percent
    (nodata 255), a few cells without data; returns (path, values as stored)."""
    rng = np.random.default_rng(seed)
    if kind == "float":
        conf = rng.choice(np.arange(11) / 10, (H, W)).astype(np.float32)  # on the thresholds
        conf[rng.random((H, W)) < 0.3] = rng.random() * 0.999
        conf[5, 5:9] = -1
        return write_raster(tmp_path / "conf.tif", conf, nodata=-1), conf
    pct = rng.integers(0, 101, (H, W)).astype(np.uint8)
    pct[5, 5:9] = 255
    return write_raster(tmp_path / "conf.tif", pct, gtype="uint8", nodata=255), pct


def _csv_rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("kind", ["float", "byte"])
def test_agreement_by_confidence_threshold_from_the_arrays(tmp_path, kind):
    pa, pb, a, b = _two_dates(tmp_path)
    pc, conf = _confidence(tmp_path, kind)
    res = compare_maps(pa, pb, tmp_path / "agree.tif", confidence=pc)
    known = (a > 0) & (b > 0) & (conf != (-1 if kind == "float" else 255))
    rows = _csv_rows(tmp_path / "agree_confidence.csv")
    assert rows[0] == ["threshold", "cells_kept", "share_kept", "oa_kept"]
    assert len(rows) == 11 and res["confidence_curve"][0]["cells"] == known.sum()
    for k, (row, got) in enumerate(zip(rows[1:], res["confidence_curve"])):
        if kind == "byte":  # percent p is kept when p >= 10 k: integers, no rounding
            keep = known & (conf.astype(int) >= 10 * k)
        else:
            keep = known & (conf >= np.float32(k / 10))
        oa = (a[keep] == b[keep]).mean()
        assert row[0] == f"{k / 10:.1f}" and int(row[1]) == keep.sum()
        assert float(row[2]) == pytest.approx(keep.sum() / known.sum(), abs=1e-6)
        assert float(row[3]) == pytest.approx(oa, abs=1e-6)
        assert got["oa"] == pytest.approx(oa) and got["cells"] == keep.sum()
    # the stored value on a threshold is kept (0.7 as float32 is below 0.7)
    if kind == "float":
        assert int(rows[8][1]) == (known & (conf >= np.float32(0.7))).sum()
        assert int(rows[8][1]) > (known & (conf.astype(np.float64) >= 0.7)).sum()


def test_the_confidence_follows_the_map_onto_a_coarser_reference_grid(tmp_path):
    rng = np.random.default_rng(5)
    coarse = rng.integers(1, 18, (10, 12))
    later = np.where(rng.random((10, 12)) < 0.5, coarse, rng.integers(1, 18, (10, 12)))
    conf = rng.integers(0, 101, (10, 12))
    fine_gt = (690000.0, 5.0, 0.0, 5340000.0, 0.0, -5.0)
    block = np.ones((2, 2), int)  # the fine map and its confidence constant per coarse cell
    pa = write_raster(tmp_path / "a.tif", coarse.astype(np.uint8), gtype="uint8")
    pb = write_raster(tmp_path / "b.tif", np.kron(later, block).astype(np.uint8),
                      gtype="uint8", gt=fine_gt)  # fmt: skip
    pc = write_raster(tmp_path / "c.tif", np.kron(conf, block).astype(np.uint8), gtype="uint8",
                      gt=fine_gt, nodata=255)  # fmt: skip
    res = compare_maps(pa, pb, tmp_path / "agree.tif", confidence=pc)
    assert "resampled onto the grid of the reference" in res["note"]
    for k, got in enumerate(res["confidence_curve"]):
        keep = conf >= 10 * k
        assert got["cells"] == keep.sum()
        assert got["oa"] == pytest.approx((coarse[keep] == later[keep]).mean())
    # a confidence raster on another grid than the compared map's is refused, named
    with pytest.raises(
        LczError, match=r"(?i)confidence '.*a\.tif' is not on the grid of the compared map"
    ):
        compare_maps(pa, pb, tmp_path / "x.tif", confidence=pa)


def test_change_matrix_areas_and_top_transitions_from_the_arrays(tmp_path):
    pa, pb, a, b = _two_dates(tmp_path)
    res = compare_maps(pa, pb, tmp_path / "agree.tif", change_table=tmp_path / "change.csv")
    both = (a > 0) & (b > 0)
    cm = np.zeros((17, 17), int)
    np.add.at(cm, (a[both] - 1, b[both] - 1), 1)
    rows = _csv_rows(tmp_path / "change.csv")
    blank = [i for i, r in enumerate(rows) if not r]
    cells, areas, top = rows[: blank[0]], rows[blank[0] + 1 : blank[1]], rows[blank[1] + 1 :]
    assert cells[0][0] == "cells: from \\ to" and cells[0][1] == "LCZ 1" and cells[1][0] == "LCZ 1"
    assert [[int(v) for v in r[1:-1]] for r in cells[1:-1]] == cm.tolist()
    assert areas[0][0] == "area_km2: from \\ to"
    got_km2 = np.array([[float(v) for v in r[1:-1]] for r in areas[1:-1]])
    np.testing.assert_allclose(got_km2, cm * 10 * 10 / 1e6, atol=1e-6)  # 10 m cells
    changed = [(cm[i, j], i + 1, j + 1) for i in range(17) for j in range(17) if i != j]
    expected = sorted((c for c in changed if c[0]), key=lambda t: (-t[0], t[1], t[2]))[:10]
    names = ["LCZ " + s for s in [*map(str, range(1, 11)), *"ABCDEFG"]]
    assert top[0] == ["rank", "from", "to", "cells", "area_km2", "share_of_changed"]
    assert [(int(r[3]), r[1], r[2]) for r in top[1:]] == [
        (n, names[i - 1], names[j - 1]) for n, i, j in expected
    ]
    assert top[1][1:3] == ["LCZ D", "LCZ 8"] and int(top[1][3]) >= 300  # the planted changes
    assert top[2][1:3] == ["LCZ B", "LCZ 6"] and int(top[2][3]) >= 100
    total_changed = cm.sum() - np.trace(cm)
    assert float(top[1][5]) == pytest.approx(expected[0][0] / total_changed, abs=1e-6)
    assert [t["from"] for t in res["transitions"]] == [i for _, i, _ in expected]
    import matplotlib.image as mpimg

    png = mpimg.imread(tmp_path / "change.png")  # the bar chart beside the table
    assert png.ndim == 3 and png.shape[0] > 200 and res["figure"].endswith("change.png")


def test_change_areas_of_a_map_in_degrees_follow_the_latitude(tmp_path):
    a = np.array([[1, 1], [2, 2], [3, 3]], np.uint8)
    b = np.array([[4, 1], [4, 2], [4, 3]], np.uint8)
    gt = (10.0, 0.5, 0.0, 60.0, 0.0, -0.5)  # rows at 60-59.5, 59.5-59, 59-58.5 N
    pa = write_raster(tmp_path / "a.tif", a, gtype="uint8", gt=gt, epsg=4326)
    pb = write_raster(tmp_path / "b.tif", b, gtype="uint8", gt=gt, epsg=4326)
    res = compare_maps(pa, pb, tmp_path / "agree.tif", change_table=tmp_path / "c.csv")
    r = 6371007.2  # the authalic sphere: area = R^2 dlon (sin(top) - sin(bottom))
    row_km2 = [r**2 * np.radians(0.5) * (np.sin(np.radians(60 - 0.5 * i))
                                         - np.sin(np.radians(59.5 - 0.5 * i))) / 1e6
               for i in range(3)]  # fmt: skip
    got = {(t["from"], t["to"]): t["area_km2"] for t in res["transitions"]}
    assert got == pytest.approx({(1, 4): row_km2[0], (2, 4): row_km2[1], (3, 4): row_km2[2]})
    assert row_km2[0] < row_km2[2]


@pytest.mark.parametrize("groups,lut", [("built-natural", BUILT), ("compact-open", COMPACT)])
def test_grouped_agreement_raster_table_and_scores(tmp_path, groups, lut):
    pa, pb, a, b = _two_dates(tmp_path)
    res = compare_maps(pa, pb, tmp_path / "agree.tif", table=tmp_path / "cross.csv",
                       groups=groups)  # fmt: skip
    both = (a > 0) & (b > 0)
    ga, gb = lut[a], lut[b]
    k = lut.max()
    gm = np.zeros((k, k), int)
    for i, j in zip(ga[both], gb[both]):
        gm[i - 1, j - 1] += 1
    rows = _csv_rows(tmp_path / "cross.csv")
    assert [[int(v) for v in r[1:-1]] for r in rows[1:-1]] == gm.tolist()
    assert rows[1][0].startswith("built" if groups == "built-natural" else "compact")
    n = gm.sum()
    po = np.trace(gm) / n
    pe = (gm.sum(0) * gm.sum(1)).sum() / n**2
    g = res["group_scores"]
    assert g["oa"] == pytest.approx(po) and g["kappa"] == pytest.approx((po - pe) / (1 - pe))
    assert g["per_group"][0]["recall"] == pytest.approx(gm[0, 0] / gm[0].sum())
    if groups == "built-natural":  # OA of built/natural groups is OA_bu of the classes
        assert g["oa"] == pytest.approx(res["oa_bu"])
    agree, _ = read_lcz_map(tmp_path / "agree.tif")
    assert agree.tolist() == np.where(both, np.where(ga == gb, 1, 2), 0).tolist()
    assert res["oa"] == pytest.approx((a[both] == b[both]).mean())  # the classes' OA stays


def _report_images(text):
    return [base64.b64decode(d) for d in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]


def test_report_is_one_page_with_embedded_figures_and_the_numbers(tmp_path):
    import matplotlib.image as mpimg

    pa, pb, a, b = _two_dates(tmp_path)
    pc, _ = _confidence(tmp_path, "byte")
    res = compare_maps(pa, pb, tmp_path / "agree.tif", confidence=pc, groups="built-natural",
                       change_table=tmp_path / "change.csv", report=tmp_path / "r.html")  # fmt: skip
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    for heading in ("Cross-table", "Per-class agreement", "Agreement by confidence",
                    "Most common transitions", "Groups: built-natural"):  # fmt: skip
        assert heading in text
    images = _report_images(text)
    assert len(images) == 5  # groups and classes heatmaps, per class, curve, transitions
    for png in images:
        assert mpimg.imread(io.BytesIO(png), format="png").shape[0] > 100
    assert not re.search(r'(src|href)="(?!data:)', text)  # self-contained
    both = (a > 0) & (b > 0)
    assert f"{(a[both] == b[both]).mean():.3f}" in text  # OA
    assert f"{res['confidence_curve'][5]['oa']:.3f}" in text
    t0 = res["transitions"][0]
    assert f"<td>{t0['cells']}</td>" in text


def test_a_failed_run_leaves_every_earlier_output_as_it_was(tmp_path):
    pa, pb, _, _ = _two_dates(tmp_path)
    pc, conf = _confidence(tmp_path, "float")
    outs = {"output": tmp_path / "agree.tif", "table": tmp_path / "cross.csv",
            "change_table": tmp_path / "change.csv", "report": tmp_path / "r.html"}  # fmt: skip
    compare_maps(pa, pb, confidence=pc, **outs)
    files = sorted(tmp_path.iterdir())
    before = {p: p.read_bytes() for p in files}
    conf[30, 40] = 1.5  # in the last strip's rows: found during the pass
    bad = write_raster(tmp_path / "bad.tif", conf, nodata=-1)
    with pytest.raises(
        LczError, match=r"(?i)confidence '.*bad\.tif' holds 1\.5: a confidence is 0-1"
    ):
        compare_maps(pa, pb, confidence=bad, **outs)
    assert {p: p.read_bytes() for p in files} == before
    assert sorted(tmp_path.iterdir()) == sorted([*files, bad])  # no temporaries left
    with pytest.raises(
        LczError, match=r"(?i)report: the report is an HTML page; give a \.html name"
    ):
        compare_maps(pa, pb, tmp_path / "x.tif", report=tmp_path / "r.txt")
    with pytest.raises(
        LczError, match=r"(?i)groups 'urban': give one of built-natural, compact-open"
    ):
        compare_maps(pa, pb, tmp_path / "x.tif", groups="urban")


def test_cli_prints_group_scores_curve_and_transitions(tmp_path, capsys):
    pa, pb, _, _ = _two_dates(tmp_path)
    pc, _ = _confidence(tmp_path, "byte")
    argv = ["compare-maps", "--reference", str(pa), "--map", str(pb), "--output",
            str(tmp_path / "agree.tif"), "--confidence", str(pc), "--groups", "compact-open",
            "--change-table", str(tmp_path / "change.csv"), "--report", str(tmp_path / "r.html")]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    printed = json.loads(out[out.index("{") :])
    assert printed["groups"]["grouping"] == "compact-open"
    assert set(printed["confidence_curve"]) == {f"{k / 10:.1f}" for k in range(10)}
    assert len(printed["top_transitions"]) == 10
    with pytest.raises(SystemExit) as exit_:  # argparse: one line, exit 2
        main(argv[:7] + ["--groups", "urban"])
    assert exit_.value.code == 2 and "invalid choice: 'urban'" in capsys.readouterr().err


def test_processing_run_with_the_new_parameters(tmp_path, run_alg):
    pa, pb, a, b = _two_dates(tmp_path)
    pc, _ = _confidence(tmp_path, "float")
    res = run_alg("lcz:comparemaps", {
        "REFERENCE": str(pa), "MAP": str(pb), "OUTPUT": str(tmp_path / "agree.tif"),
        "GROUPS": "built-natural", "CONFIDENCE": str(pc),
        "CHANGE_TABLE": str(tmp_path / "change.csv"), "REPORT": str(tmp_path / "r.html")})  # fmt: skip
    both = (a > 0) & (b > 0)
    assert res["OA"] == pytest.approx((BUILT[a[both]] == BUILT[b[both]]).mean())
    assert res["OA_BU"] == pytest.approx(res["OA"])
    assert res["REPORT"] == str(tmp_path / "r.html") and len(_report_images(
        (tmp_path / "r.html").read_text(encoding="utf-8"))) == 5  # fmt: skip
    assert (tmp_path / "change.png").exists() and (tmp_path / "agree_confidence.csv").exists()
