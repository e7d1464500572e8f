"""Training areas + Sentinel-2 -> LCZ map in one step (lcz map-from-areas), on the sample city.

The bootstrap's promises are checked from its saved outputs: no polygon on both sides of
any split, every class with two polygons held out in each split, the reported scores
equal to recomputing them from the saved held-out predictions, the confusion matrix the
sum over the splits. The map is the final model's classification of the raster.
"""

from __future__ import annotations

import csv
import json
import os
import zipfile

import numpy as np
import pytest
import rasterio
from helpers import expected_area_points, write_areas_file

from lcz_qgis.cli import main
from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.common.legend import lcz_class
from lcz_qgis.evaluation.metrics import lcz_scores
from lcz_qgis.sample_data import S2_NODATA
from lcz_qgis.training_areas.bootstrap import polygon_classes, polygon_splits, run_bootstrap
from lcz_qgis.training_areas.workflow import MapRequest, map_from_training_areas

SPLITS = 6


@pytest.fixture(scope="module")
def made(city):
    out = city / "out"
    out.mkdir()
    fb = RecordingFeedback()
    req = MapRequest(
        areas=str(city / "areas.gpkg"), sentinel2=str(city / "scene_s2.tif"),
        output=str(out / "lcz.tif"), n_splits=SPLITS, trees=30, seed=3,
        confidence=str(out / "conf.tif"), area_table=str(out / "area.csv"),
        map_image=str(out / "map.png"), factsheet=str(out / "factsheet.html"), model_output=str(out / "city.lczmodel"),
        suspicious=str(out / "suspicious.gpkg"), predictions=str(out / "predictions.csv"),
    )  # fmt: skip
    return map_from_training_areas(req, fb), out, fb


def _predictions(out):
    with open(out / "predictions.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_no_polygon_is_on_both_sides_and_every_class_is_held_out():
    rng = np.random.default_rng(0)
    classes = {pid: int(c) for pid, c in enumerate(rng.integers(1, 6, 40))}
    classes[99] = 9  # a class of one polygon: always trained on, never held out
    splits = polygon_splits(classes, n_splits=25, seed=1)
    assert len(splits) == 25
    assert len({tuple(test) for _, test in splits}) > 1  # drawn anew per split
    for train, test in splits:
        assert not set(train) & set(test)
        assert set(train) | set(test) == set(classes)
        assert 99 in train
        for code in set(classes.values()) - {9}:
            ids = [p for p, c in classes.items() if c == code]
            held = [p for p in ids if p in test]
            assert 1 <= len(held) <= len(ids) - 1
            assert abs(len(held) - 0.3 * len(ids)) <= 1
    assert polygon_splits(classes, 25, seed=1)[3][1].tolist() == splits[3][1].tolist()


def test_a_split_needs_two_polygons_of_a_class():
    with pytest.raises(LczError, match="two training areas"):
        polygon_splits({1: 3, 2: 4}, 5)


def test_the_bootstrap_keeps_polygons_apart_in_the_patches():
    polygons = np.repeat(np.arange(12), 5)
    codes = np.repeat([1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4], 5)
    seen = []

    def fit_predict(train_rows, test_rows, index, feedback):
        assert not set(polygons[train_rows]) & set(polygons[test_rows])
        seen.append(index)
        p = np.zeros((len(test_rows), 17))
        p[np.arange(len(test_rows)), codes[train_rows][0] - 1] = 1.0  # a constant guess
        return p

    res = run_bootstrap(polygons, codes, fit_predict, n_splits=4)
    assert seen == [0, 1, 2, 3]
    assert polygon_classes(polygons, codes)[4] == 2
    for s in res.splits:
        assert s.scores["oa"] == pytest.approx(np.mean(s.predicted == s.reference))


def test_scores_equal_a_recount_from_the_saved_predictions(made):
    res, out, _ = made
    rows = _predictions(out)
    by_split = {}
    for r in rows:
        by_split.setdefault(int(r["split"]), []).append(r)
    assert sorted(by_split) == list(range(SPLITS))
    recount = []
    total = np.zeros((17, 17), np.int64)
    for k in range(SPLITS):
        ref = np.array([int(r["reference"]) for r in by_split[k]])
        pred = np.array([int(r["predicted"]) for r in by_split[k]])
        s = lcz_scores(ref, pred)
        recount.append(s)
        total += np.asarray(s["confusion"])
        assert s["oa"] == pytest.approx(np.mean(ref == pred))
    for key in ("oa", "oa_u", "oa_bu", "oa_w", "kappa", "macro_f1"):
        values = np.array([s[key] for s in recount])
        _assert_interval(res.bootstrap.summary[key], values[np.isfinite(values)])
    assert (res.bootstrap.confusion == total).all()  # summed over all splits, not the last
    # per-class F1: over the splits that held the class out, as the class table shows it
    held = {int(r["reference"]) for r in rows}
    assert set(res.bootstrap.per_class_f1) == held
    table = {c["code"]: c for c in res.class_table}
    for code in held:
        ks = [k for k in range(SPLITS) if any(int(r["reference"]) == code for r in by_split[k])]
        f1 = np.array([recount[k]["per_class"][code - 1]["f1"] for k in ks])
        assert f1 == pytest.approx([_f1(by_split[k], code) for k in ks])  # counted by hand
        _assert_interval(res.bootstrap.per_class_f1[code], f1)
        assert table[code]["f1_mean"] == pytest.approx(f1.mean())
        assert table[code]["f1_low"] == pytest.approx(np.percentile(f1, 2.5))
    # the macro F1 of a split is the mean F1 of the classes it held out
    for k in range(SPLITS):
        codes = {int(r["reference"]) for r in by_split[k]}
        macro = np.mean([_f1(by_split[k], c) for c in codes])
        assert res.bootstrap.splits[k].scores["macro_f1"] == pytest.approx(macro)


def _f1(rows, code):
    """A class's F1 counted by hand from prediction rows."""
    tp = sum(int(r["reference"]) == code == int(r["predicted"]) for r in rows)
    ref = sum(int(r["reference"]) == code for r in rows)
    pred = sum(int(r["predicted"]) == code for r in rows)
    return 2 * tp / (ref + pred) if ref + pred else 0.0


def _assert_interval(got, values):
    assert len(values) > 0
    assert got["mean"] == pytest.approx(values.mean())
    assert got["low"] == pytest.approx(np.percentile(values, 2.5))
    assert got["high"] == pytest.approx(np.percentile(values, 97.5))


def test_the_saved_predictions_never_put_one_polygon_on_both_sides(made):
    res, out, _ = made
    rows = _predictions(out)
    for s in res.bootstrap.splits:
        held = {int(r["polygon"]) for r in rows if int(r["split"]) == s.index}
        assert held == set(s.test_polygons.tolist())
        assert not held & set(s.train_polygons.tolist())


def test_the_map_is_georeferenced_on_the_raster_at_100_m_and_matches_the_truth(made, city):
    res, out, _ = made
    with rasterio.open(out / "lcz.tif") as m, rasterio.open(city / "scene_s2.tif") as s2:
        assert m.crs == s2.crs and m.res == (100.0, 100.0)
        assert m.transform.c == s2.transform.c + 110 and m.transform.f == s2.transform.f - 110
        lcz = m.read(1)
    with rasterio.open(city / "scene_truth.tif") as t:
        truth = t.read(1)[16::10, 16::10][: lcz.shape[0], : lcz.shape[1]]
    valid = (lcz > 0) & (truth > 0)
    assert valid.sum() > 100
    # trained on a few polygons of 8 classes: it must find those classes where they are
    trained = np.isin(truth, [c["code"] for c in res.class_table])
    assert np.mean(lcz[valid & trained] == truth[valid & trained]) > 0.6
    assert (out / "lcz.qml").is_file() and (out / "conf.tif").is_file()
    with rasterio.open(out / "conf.tif") as c:
        conf = c.read(1)
    assert ((conf[lcz > 0] > 0) & (conf[lcz > 0] <= 1)).all()


def test_the_final_model_carries_its_temperature_and_provenance(made):
    res, out, _ = made
    with zipfile.ZipFile(out / "city.lczmodel") as z:
        manifest = json.loads(z.read("manifest.json"))
    cal = manifest["calibration"]
    assert cal["method"] == "temperature" and cal["temperature"] == pytest.approx(res.temperature)
    assert cal["n"] == sum(len(s.reference) for s in res.bootstrap.splits)
    assert "by polygon" in manifest["training"]["validation"]
    assert manifest["training"]["n_polygons"] == res.n_polygons


def test_the_factsheet_shows_scores_classes_calibration_and_suspects(made):
    res, out, fb = made
    text = (out / "factsheet.html").read_text()
    for needle in ("Accuracy (6 splits by polygon", "95% interval", "Confusion matrix",
                   "Classes", "Confidence calibration", "Suspicious training areas",
                   "data:image/png;base64", "Random forest, 30 trees"):  # fmt: skip
        assert needle in text, needle
    assert f"{res.bootstrap.summary['oa']['mean']:.3f}" in text
    assert text.count("<img") >= 2  # boxplots and the confusion matrix
    assert res.suspects and (out / "suspicious.gpkg").is_file()
    assert any("300 m buffer" in w for w in fb.warnings)


@pytest.fixture(scope="module")
def want(city):
    """(x, y) -> (code, area name) of every patch the city's areas must give, counted
    from the areas and the raster's pixels (helpers.expected_area_points)."""
    with rasterio.open(city / "scene_s2.tif") as s2:
        pixels = np.moveaxis(s2.read(), 0, -1)
    return expected_area_points([pixels], S2_NODATA)


def test_the_final_model_is_trained_on_every_polygon_that_gives_patches(made, want):
    res, out, _ = made
    with zipfile.ZipFile(out / "city.lczmodel") as z:
        training = json.loads(z.read("manifest.json"))["training"]
    names = {name for _, name in want.values()}
    # 25 areas: the tiny one, the one outside and the one in the nodata strip give none
    assert len(names) == 22 and res.n_polygons == len(names)
    assert training["n_polygons"] == len(names)
    assert training["n_train"] == res.n_patches == len(want)
    codes = np.array([code for code, _ in want.values()])
    assert training["class_counts"] == np.bincount(codes, minlength=18)[1:].tolist()


def _map(path):
    with rasterio.open(path) as m:
        return m.read(1), abs(m.res[0] * m.res[1])


def test_the_area_table_is_a_recount_of_the_maps_cells(made):
    _, out, _ = made
    lcz, cell_m2 = _map(out / "lcz.tif")
    assert cell_m2 == 10_000.0
    counts = np.bincount(lcz.ravel(), minlength=18)
    with open(out / "area.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["code"]) for r in rows] == list(range(1, 18))
    for r in rows:
        n = counts[int(r["code"])]
        assert int(r["cells"]) == n
        assert float(r["area_km2"]) == pytest.approx(n * cell_m2 / 1e6, abs=1e-6)
        assert float(r["percent"]) == pytest.approx(100 * n / counts[1:].sum(), abs=1e-3)
    assert sum(int(r["cells"]) for r in rows) == (lcz > 0).sum() > 1000


def test_the_map_image_is_a_png_whose_legend_lists_the_classes_present(made):
    from numpy.lib.stride_tricks import sliding_window_view
    from PIL import Image

    from lcz_qgis.common.legend import LCZ_CLASSES

    _, out, _ = made
    png = out / "map.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (1500, 1080)  # 10 x 7.2 in at 150 dpi
        rgb = np.asarray(im.convert("RGB"))
    legend = rgb[:, int(0.69 * rgb.shape[1]) :]  # the legend's axes, right of the map
    lcz, _ = _map(out / "lcz.tif")
    present = set(np.unique(lcz[lcz > 0]).tolist())
    swatches = set()
    for c in LCZ_CLASSES:
        solid = (legend == np.array(c.rgb, np.uint8)).all(axis=-1)
        if sliding_window_view(solid, (6, 6)).all(axis=(-1, -2)).any():  # a filled swatch
            swatches.add(c.code)
    assert len(present) >= 4 and swatches == present


def test_the_gaussian_filter_smooths_the_map(made, city, tmp_path):
    """The same final model (seed and trees as ``made``) with FILTER gaussian: the same
    cells mapped, some changed, and fewer class changes between neighbouring cells."""
    _, out, _ = made
    req = MapRequest(areas=str(city / "areas.gpkg"), sentinel2=str(city / "scene_s2.tif"),
                     output=str(tmp_path / "g.tif"), n_splits=2, trees=30, seed=3,
                     filter="gaussian")  # fmt: skip
    map_from_training_areas(req, RecordingFeedback())
    plain, _ = _map(out / "lcz.tif")
    smooth, _ = _map(tmp_path / "g.tif")
    assert ((plain == 0) == (smooth == 0)).all()
    changed = (plain != smooth).mean()
    assert 0.005 < changed < 0.5

    def class_changes(m):
        ok_h, ok_v = (m[:, 1:] > 0) & (m[:, :-1] > 0), (m[1:] > 0) & (m[:-1] > 0)
        return ((m[:, 1:] != m[:, :-1]) & ok_h).sum() + ((m[1:] != m[:-1]) & ok_v).sum()

    assert class_changes(smooth) < 0.8 * class_changes(plain)


def _section(text, heading):
    """The HTML of a factsheet section: from its <h2> to the next one."""
    start = text.index(f"<h2>{heading}")
    end = text.find("<h2>", start + 4)
    return text[start : end if end > 0 else len(text)]


def test_the_factsheet_shows_the_results_calibration_and_class_f1(made, want):
    import base64
    import re

    res, out, _ = made
    text = (out / "factsheet.html").read_text()
    cal = _section(text, "Confidence calibration")
    values = dict(re.findall(r'<th class="l">([^<]*)</th><td class="l">([^<]*)</td>', cal))
    (before,) = [float(v) for k, v in values.items() if k.startswith("ECE before")]
    (after,) = [float(v) for k, v in values.items() if k.startswith("ECE after")]
    (temp,) = [float(v) for k, v in values.items() if k.startswith("Temperature")]
    assert before == pytest.approx(res.ece_before, abs=5e-4) and before > 0
    assert after == pytest.approx(res.ece_after, abs=5e-4)
    assert temp == pytest.approx(res.temperature, abs=5e-4)
    images = re.findall(
        r'<img alt="(reliability diagram[^"]*)" src="data:image/png;base64,([^"]+)"', cal
    )
    assert [alt for alt, _ in images] == ["reliability diagram, before calibration",
                                          "reliability diagram, after calibration"]  # fmt: skip
    assert all(base64.b64decode(data)[:4] == b"\x89PNG" for _, data in images)
    assert sum(r["count"] for r in res.reliability["before"]) == sum(
        len(s.reference) for s in res.bootstrap.splits
    )
    # the class table: every class of the areas, its polygons and patches, its F1
    rows = re.findall(r"</span> ([^<]+)</td><td class=\"l\">[^<]*</td><td>(\d+)</td>"
                      r"<td>(\d+)</td><td>([^<]+)</td>", _section(text, "Classes"))  # fmt: skip
    by_code = {}
    for code, name in want.values():
        by_code.setdefault(code, (set(), []))[0].add(name)
        by_code[code][1].append(name)
    letters = {lcz_class(c).letter: c for c in by_code}
    assert sorted(r[0] for r in rows) == sorted(letters)
    for letter, polygons, patches, f1 in rows:
        code = letters[letter]
        assert int(polygons) == len(by_code[code][0]) and int(patches) == len(by_code[code][1])
        assert f1 == f"{res.bootstrap.per_class_f1[code]['mean']:.3f}"
    polys = re.search(r"Polygons with patches</th><td class=\"l\">(\d+)<", text).group(1)
    assert int(polys) == len({n for _, n in want.values()})


@pytest.mark.parametrize("at", [10, 40, 90])  # patches, bootstrap, the map
def test_cancel_leaves_nothing(city, tmp_path, at):
    req = MapRequest(areas=str(city / "areas.gpkg"), sentinel2=str(city / "scene_s2.tif"),
                     output=str(tmp_path / "lcz.tif"), n_splits=4, trees=10,
                     factsheet=str(tmp_path / "f.html"), confidence=str(tmp_path / "c.tif"))  # fmt: skip
    fb = RecordingFeedback(cancel_at=at)
    with pytest.raises(Cancelled):
        map_from_training_areas(req, fb)
    assert max(fb.percents) >= at
    assert os.listdir(tmp_path) == []


def test_bad_requests_are_refused_before_any_work(city, tmp_path, capsys):
    base = ["map-from-areas", "--areas", str(city / "areas.gpkg"), "--sentinel2",
            str(city / "scene_s2.tif"), "--output", str(tmp_path / "m.tif")]  # fmt: skip
    assert main(base + ["--model-type", "finetune"]) != 0
    assert "--init-model" in capsys.readouterr().err
    assert main(base + ["--splits", "1"]) != 0
    assert "--splits" in capsys.readouterr().err
    bad = base[:4] + [str(tmp_path / "nothing.tif")] + base[5:]
    assert main(bad) != 0
    assert "does not exist" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_an_init_model_that_cannot_be_fine_tuned_is_refused_before_any_work(made, tmp_path,
                                                                            capsys, city):  # fmt: skip
    _, out, _ = made  # city.lczmodel: the random forest made above
    args = ["map-from-areas", "--areas", str(city / "areas.gpkg"), "--sentinel2",
            str(city / "scene_s2.tif"), "--output", str(tmp_path / "m.tif"),
            "--model-type", "finetune", "--init-model"]  # fmt: skip
    assert main(args + [str(out / "city.lczmodel")]) != 0
    err = capsys.readouterr().err
    assert "--init-model" in err and "Keras" in err and "--model-type rf" in err
    assert main(args + [str(tmp_path / "none.lczmodel")]) != 0
    assert "does not exist" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


# -- fine-tuning a Keras model on the city's training areas ----------------------------------

FT_SPLITS = 3


@pytest.fixture(scope="module")
def finetuned(city, tmp_path_factory):
    """An MLP trained 1 epoch on generated patches, fine-tuned on the city's areas."""
    pytest.importorskip("tensorflow")
    from lcz_qgis.sample_data import write_so2sat_file
    from lcz_qgis.training import train_keras

    d = tmp_path_factory.mktemp("finetune")
    write_so2sat_file(d / "init.h5", 340, seed=5)
    init = d / "init.lczmodel"
    train_keras(d / "init.h5", init, "mlp", "sen2", list(range(10)), epochs=1,
                batch_size=32, max_samples=160, seed=1)  # fmt: skip
    fb = RecordingFeedback()
    req = MapRequest(
        areas=str(city / "areas.gpkg"), sentinel2=str(city / "scene_s2.tif"),
        output=str(d / "lcz.tif"), model_type="finetune", init_model=str(init),
        n_splits=FT_SPLITS, epochs=2, seed=2, confidence=str(d / "conf.tif"),
        factsheet=str(d / "factsheet.html"), model_output=str(d / "city.lczmodel"),
        predictions=str(d / "predictions.csv"),
    )  # fmt: skip
    return map_from_training_areas(req, fb), d, fb


@pytest.mark.tf
def test_finetuning_maps_the_city_on_the_rasters_grid(finetuned, city):
    res, d, _ = finetuned
    with rasterio.open(d / "lcz.tif") as m, rasterio.open(city / "scene_s2.tif") as s2:
        assert m.crs == s2.crs and m.res == (100.0, 100.0)
        assert m.transform.c == s2.transform.c + 110 and m.transform.f == s2.transform.f - 110
        assert m.nodata == 0
        lcz = m.read(1)
    with rasterio.open(city / "scene_truth.tif") as t:
        truth = t.read(1)[16::10, 16::10][: lcz.shape[0], : lcz.shape[1]]
    assert set(np.unique(lcz)) <= set(range(18)) and (lcz > 0).sum() > 1000
    trained = [c["code"] for c in res.class_table]
    valid = (lcz > 0) & np.isin(truth, trained)
    # 8 trained classes (chance 1/8); the init model alone was trained on other patches
    assert np.mean(lcz[valid] == truth[valid]) > 0.35
    assert np.isin(lcz[lcz > 0], trained).mean() > 0.8
    with rasterio.open(d / "conf.tif") as c:
        conf = c.read(1)
    assert ((conf[lcz > 0] > 0) & (conf[lcz > 0] <= 1)).all()


@pytest.mark.tf
def test_the_finetuned_model_file_records_its_init_model_and_training_areas(finetuned):
    import hashlib

    from lcz_qgis.common.enums import Framework
    from lcz_qgis.models.modelfile import load_model

    res, d, _ = finetuned
    with zipfile.ZipFile(d / "city.lczmodel") as z:
        manifest = json.loads(z.read("manifest.json"))
    assert manifest["framework"] == "keras" and manifest["model_type"] == "mlp"
    assert manifest["fine_tuned"] is True
    src = manifest["fine_tuned_from"]
    init = d / "init.lczmodel"
    assert src["file"] == "init.lczmodel"
    assert src["sha256"] == hashlib.sha256(init.read_bytes()).hexdigest()
    t = manifest["training"]
    assert t["file"] == "training areas areas.gpkg" and t["n_polygons"] == res.n_polygons
    assert t["validation"] == f"bootstrap of {FT_SPLITS} 70/30 splits by polygon"
    assert t["epochs"] == 2 and t["n_train"] + t["n_validation"] == res.n_patches
    assert manifest["scores"]["oa"] == pytest.approx(res.bootstrap.summary["oa"]["mean"])
    cal = manifest["calibration"]
    assert cal["temperature"] == pytest.approx(res.temperature)
    assert cal["n"] == sum(len(s.reference) for s in res.bootstrap.splits)
    model, before = load_model(d / "city.lczmodel"), load_model(init)
    assert model.framework == Framework.KERAS
    new = [w for layer in model.network.layers for w in layer.get_weights()]
    old = [w for layer in before.network.layers for w in layer.get_weights()]
    assert len(new) == len(old) and not any(np.array_equal(a, b) for a, b in zip(new, old))


@pytest.mark.tf
def test_finetuning_scores_come_from_held_out_polygons_only(finetuned):
    res, d, fb = finetuned
    with open(d / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(res.bootstrap.splits) == FT_SPLITS
    for s in res.bootstrap.splits:
        mine = [r for r in rows if int(r["split"]) == s.index]
        held = {int(r["polygon"]) for r in mine}
        assert held == set(s.test_polygons.tolist())
        assert not held & set(s.train_polygons.tolist())
        ref = np.array([int(r["reference"]) for r in mine])
        pred = np.array([int(r["predicted"]) for r in mine])
        recount = lcz_scores(ref, pred)
        for key in ("oa", "kappa", "oa_u", "oa_bu", "oa_w"):
            assert s.scores[key] == pytest.approx(recount[key], nan_ok=True)
    for key in ("oa", "kappa"):
        values = [s.scores[key] for s in res.bootstrap.splits]
        assert res.bootstrap.summary[key]["mean"] == pytest.approx(np.mean(values))
    assert sum(np.asarray(lcz_scores(s.reference, s.predicted)["confusion"]).sum()
               for s in res.bootstrap.splits) == len(rows)  # fmt: skip
    assert any("finetune" in m for m in fb.messages)


@pytest.mark.tf
def test_the_finetuning_factsheet_names_the_init_model(finetuned):
    res, d, _ = finetuned
    text = (d / "factsheet.html").read_text()
    assert f"Accuracy ({FT_SPLITS} splits by polygon" in text
    assert "init.lczmodel fine-tuned, 2 epochs" in text
    assert "<img" in _section(text, "Confidence calibration")  # the reliability diagrams
    assert f"{res.bootstrap.summary['oa']['mean']:.3f}" in text
    assert "Confidence calibration" in text


@pytest.mark.qgis
def test_qgis_process_runs_map_from_training_areas(city, tmp_path, qgis_process):
    out = tmp_path / "q"
    out.mkdir()
    run = qgis_process("run", "lcz:mapfromtrainingareas", "--",
           f"AREAS={city / 'areas.gpkg'}", f"SENTINEL2={city / 'scene_s2.tif'}",
           "SPLITS=3", "TREES=10", f"OUTPUT={out / 'lcz.tif'}",
           f"FACTSHEET={out / 'factsheet.html'}", f"CONFIDENCE={out / 'conf.tif'}")  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    with rasterio.open(out / "lcz.tif") as m:
        assert m.res == (100.0, 100.0) and m.read(1).max() > 0
    assert "Accuracy (3 splits by polygon" in (out / "factsheet.html").read_text()


@pytest.mark.qgis
def test_the_graphical_model_maps_a_product_from_training_areas(qgis_app, tmp_path):
    """ "Training areas + Sentinel-2 -> LCZ map": Prepare Sentinel-2, then the one step."""
    import processing
    from helpers import make_safe
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingFeedback

    model_id = "lcz:training_areas_to_lcz_map"
    model = QgsApplication.processingRegistry().algorithmById(model_id)
    assert model is not None and model.displayName().startswith("Training areas + Sentinel-2")
    inputs = [p.name() for p in model.parameterDefinitions() if not p.isDestination()]
    assert inputs == ["AREAS", "FIELD", "PRODUCT", "RESOLUTION", "FILTER"]
    assert model.shortDescription().endswith(".")
    safe = make_safe(tmp_path / "safe", size10=256)
    x0, y0 = 690000, 5340000  # the product's upper-left corner (EPSG:32632)
    areas = {f"a{i}": (2 if i % 2 else 11, [(x0 + 150 + 400 * i, y0 - 1050, x0 + 450 + 400 * i,
                                            y0 - 750)], False) for i in range(6)}  # fmt: skip
    write_areas_file(tmp_path / "areas.gpkg", areas, epsg=32632)
    out = tmp_path / "lcz.tif"
    params = {"AREAS": str(tmp_path / "areas.gpkg"), "PRODUCT": str(safe), "RESOLUTION": 100,
              "FILTER": 0, "map:LCZ map": str(out),
              "map:Factsheet": str(tmp_path / "factsheet.html")}  # fmt: skip
    res = processing.run(model_id, params, context=QgsProcessingContext(),
                         feedback=QgsProcessingFeedback())  # fmt: skip
    assert res["map:LCZ map"] == str(out)
    with rasterio.open(out) as m:
        assert m.res == (100.0, 100.0) and set(np.unique(m.read(1))) <= {0, 2, 11}
    assert "splits by polygon" in (tmp_path / "factsheet.html").read_text()


@pytest.mark.tf
def test_cancelling_a_finetuning_split_leaves_nothing(finetuned, city, tmp_path):
    _, d, _ = finetuned
    out = tmp_path / "out"
    out.mkdir()
    req = MapRequest(areas=str(city / "areas.gpkg"), sentinel2=str(city / "scene_s2.tif"),
                     output=str(out / "lcz.tif"), model_type="finetune",
                     init_model=str(d / "init.lczmodel"), n_splits=FT_SPLITS, epochs=2,
                     factsheet=str(out / "f.html"), model_output=str(out / "m.lczmodel"))  # fmt: skip
    fb = RecordingFeedback(cancel_at=40)  # inside the bootstrap: a split is training
    with pytest.raises(Cancelled):
        map_from_training_areas(req, fb)
    assert 40 <= max(fb.percents) < 90
    assert os.listdir(out) == []
