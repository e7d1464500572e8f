"""Fine-tuning the published Sen2LCZ-Net on a city's training areas: speed, and the
accuracy gain on the city's held-out polygons (measured, not asserted).

What is measured, step by step:

1. **Training areas**: the sample city (``sample_data.write_scene``, 8 x 8 zone blocks of
   640 m, ``SCENE_LAYOUT``) gives one polygon per block, its class the block's LCZ code
   (64 polygons, 17 classes), written as a GeoPackage. As in map-from-areas, the
   polygons are 409,600 m2, over the 300,000 m2 limit, so each is sampled in a 300 m
   buffer around its centroid (``training_areas.quality``).
2. **Split by polygon**: one 70/30 split stratified by class
   (``training_areas.bootstrap.polygon_splits``, seed 0); a class with one block only is
   always on the training side. No polygon is on both sides.
3. **Patches**: the real ``training_area_patches`` cuts the 32 x 32 patches (100 m grid)
   from the sample city raster. One rendering gives ~1,800 patches in all, so the
   training side takes the training polygons' patches of several renderings of the same
   city (seeds 0, 1, 2, ...: the same zones, other noise) until ``N`` patches
   (``LCZ_BENCH_FINETUNE_N``, default 5,000), shuffled (seed 0) and capped at ``N``.
   The **held-out set** is the held-out polygons' patches of the seed-0 city only.
4. **Models**, each scored on the same held-out patches:
   the published Sen2LCZ-Net (../shared/pretrained/sen2lcznet_32_weights.best.hdf5 via
   ``models.pretrained_import.import_pretrained``; without the file a Sen2LCZ-Net trained
   one epoch on generated So2Sat patches stands in, and the row says so); that model
   fine-tuned (``training.finetune_keras``) on the training patches for ``EPOCHS`` epochs
   (``LCZ_BENCH_FINETUNE_EPOCHS``, default 2; batch 32, learning rate 1e-4, no early
   stopping; the best epoch is picked on a random 10% of the training patches), once
   training every layer and once the classification head only; and the LCZ Generator's
   baseline, a 30-tree random forest on the patch statistics, trained by the same
   ``fit_predict`` map-from-areas uses (``training_areas.rf_fit_predict``).
5. **Scores** (held-out polygons): OA, kappa and macro F1 (``evaluation.metrics``), the
   gain in OA over the published model, the ECE (15 bins) of the uncalibrated
   probabilities, and the ECE after temperature scaling cross-fitted on the held-out
   polygons (their polygons halved by class; the temperature fitted on one half scores
   the other, both ways, weighted by patches), so no patch is scored by a temperature
   fitted on it. ``patches/s``: training patches per second of the fine-tuning (median
   over the epochs after the first, whose graph tracing is not throughput) or of the
   forest (features and fit); ``wall s``: the whole fine-tuning or forest fit.

Each model runs in its own child process (``common.run_python``).
Run: ``LCZ_BENCH_FINETUNE_N=1000 .venv/bin/python scripts/bench.py --only finetune``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from lcz_qgis.training_areas.workflow import FINETUNE_BATCH, FINETUNE_LEARNING_RATE

from .common import REPO, run_python

TITLE = "Fine-tuning Sen2LCZ-Net on the sample city's training areas (held-out polygons)"

N = int(os.environ.get("LCZ_BENCH_FINETUNE_N", "5000"))
EPOCHS = int(os.environ.get("LCZ_BENCH_FINETUNE_EPOCHS", "2"))
BATCH = FINETUNE_BATCH  # as map-from-areas fine-tunes
LEARNING_RATE = FINETUNE_LEARNING_RATE
RF_TREES = 30
MAX_RENDERINGS = 20
WEIGHTS = REPO.parent / "shared" / "pretrained" / "sen2lcznet_32_weights.best.hdf5"


def write_block_areas(path: Path) -> int:
    """The sample city's zone blocks as polygons (field ``lcz``); returns their count."""
    from osgeo import ogr, osr

    from lcz_qgis.sample_data import SCENE_BLOCK, SCENE_EPSG, SCENE_LAYOUT, SCENE_ORIGIN

    ogr.UseExceptions()
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(SCENE_EPSG)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("areas", srs, ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("lcz", ogr.OFTInteger))
    size = SCENE_BLOCK * 10.0  # metres
    for (r, c), code in np.ndenumerate(SCENE_LAYOUT):
        x0, y0 = SCENE_ORIGIN[0] + c * size, SCENE_ORIGIN[1] - r * size
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for x, y in ((x0, y0), (x0 + size, y0), (x0 + size, y0 - size), (x0, y0 - size)):
            ring.AddPoint_2D(x, y)
        ring.CloseRings()
        poly = ogr.Geometry(ogr.wkbPolygon)
        poly.AddGeometry(ring)
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(poly)
        f.SetField("lcz", int(code))
        lyr.CreateFeature(f)
    ds = None
    return int(SCENE_LAYOUT.size)


def _city_patches(work: Path, seed: int) -> dict:
    """The areas' patches of the city rendered with ``seed``: sen2, codes, polygon ids."""
    import h5py

    from lcz_qgis.sample_data import write_scene
    from lcz_qgis.training_areas import training_area_patches

    folder = work / f"city_{seed}"
    folder.mkdir(exist_ok=True)
    write_scene(folder, seed)
    training_area_patches(work / "areas.gpkg", folder / "scene_s2.tif", folder / "patches.h5")
    with h5py.File(folder / "patches.h5", "r") as f:
        out = {"sen2": f["sen2"][...], "codes": np.argmax(f["label"][...], axis=1) + 1,
               "polygons": f["polygon"][...].astype(np.int64)}  # fmt: skip
    return out


def _write_file(path: Path, sen2, codes, polygons) -> None:
    """A So2Sat-format file (sen2, one-hot label, polygon) of some patches."""
    import h5py

    label = np.zeros((len(codes), 17), np.float64)
    label[np.arange(len(codes)), codes - 1] = 1.0
    with h5py.File(path, "w") as f:
        f.create_dataset("sen2", data=sen2)
        f.create_dataset("label", data=label)
        f.create_dataset("polygon", data=polygons)


def _read_file(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as f:
        return f["sen2"][...], np.argmax(f["label"][...], axis=1) + 1, f["polygon"][...]


def prepare(work: Path, n: int) -> dict:
    """Steps 1-3 and the published model: train.h5, held_out.h5 and init.lczmodel."""
    from lcz_qgis.training_areas import polygon_classes, polygon_splits

    n_areas = write_block_areas(work / "areas.gpkg")
    city = _city_patches(work, 0)
    classes = polygon_classes(city["polygons"], city["codes"])
    train_ids, test_ids = polygon_splits(classes, n_splits=1, seed=0)[0]
    held = np.isin(city["polygons"], test_ids)
    _write_file(work / "held_out.h5", city["sen2"][held], city["codes"][held],
                city["polygons"][held])  # fmt: skip
    parts, total, seed = [], 0, 0
    while total < n and seed < MAX_RENDERINGS:
        city = city if seed == 0 else _city_patches(work, seed)
        keep = np.isin(city["polygons"], train_ids)
        parts.append({k: v[keep] for k, v in city.items()})
        total += int(keep.sum())
        seed += 1
    rows = np.random.default_rng(0).permutation(total)[:n]
    train = {k: np.concatenate([p[k] for p in parts])[rows] for k in parts[0]}
    if np.isin(train["polygons"], test_ids).any():  # pragma: no cover - a broken split
        raise RuntimeError("a held-out polygon is in the training patches")
    _write_file(work / "train.h5", train["sen2"], train["codes"], train["polygons"])
    source = _init_model(work)
    return {
        "source": source, "n_areas": n_areas, "n_polygons": len(classes),
        "n_train": int(len(rows)), "renderings": seed,
        "train_polygons": len(train_ids), "held_polygons": len(test_ids),
        "n_held": int(held.sum()),
    }  # fmt: skip


def _init_model(work: Path) -> str:
    """init.lczmodel: the published Sen2LCZ-Net, or a stand-in without its weights."""
    if WEIGHTS.is_file():
        from lcz_qgis.models.pretrained_import import import_pretrained

        import_pretrained(work / "init.lczmodel", weights=WEIGHTS)
        return "published Sen2LCZ-Net"
    from lcz_qgis.sample_data import write_so2sat_file
    from lcz_qgis.training import train_keras

    write_so2sat_file(work / "standin.h5", 1000, seed=102)
    train_keras(work / "standin.h5", work / "init.lczmodel", "sen2lcznet", "sen2",
                list(range(10)), epochs=1)  # fmt: skip
    return "stand-in Sen2LCZ-Net (published weights not found)"


def _halves(polygons: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """True for the patches of every other held-out polygon of each class."""
    first = set()
    for code in np.unique(codes):
        ids = np.unique(polygons[codes == code])
        first |= set(ids[::2].tolist())
    return np.isin(polygons, sorted(first))


def score(proba: np.ndarray, codes: np.ndarray, polygons: np.ndarray) -> dict:
    """Step 5's scores of held-out probabilities (N, 17) against the codes (N,)."""
    from lcz_qgis.evaluation.metrics import expected_calibration_error, lcz_scores
    from lcz_qgis.models.calibration import apply_temperature, fit_temperature

    pred = np.argmax(proba, axis=1) + 1
    s = lcz_scores(codes, pred)
    correct = pred == codes
    ece = expected_calibration_error(proba.max(axis=1), correct)
    half = _halves(polygons, codes)
    ece_cal, temps = 0.0, []
    for fit_on in (half, ~half):
        t = fit_temperature(proba[fit_on], codes[fit_on])
        cal = apply_temperature(proba[~fit_on], t)
        n_scored = int((~fit_on).sum())
        ece_cal += expected_calibration_error(cal.max(axis=1), correct[~fit_on]) * n_scored
        temps.append(t)
    return {"oa": s["oa"], "kappa": s["kappa"], "macro_f1": s["macro_f1"], "ece": ece,
            "ece_calibrated": ece_cal / len(codes), "temperature": float(np.mean(temps))}  # fmt: skip


def score_model(model_path: Path, held_out: Path) -> dict:
    """A model file's step-5 scores on the held-out file (uncalibrated probabilities)."""
    from lcz_qgis.models.modelfile import load_model

    x, codes, polygons = _read_file(held_out)
    model = load_model(model_path)
    model.prepare_many(len(x))
    t0 = time.monotonic()
    proba = model.predict_proba(x, calibrated=False)
    return score(proba, codes, polygons) | {"predict_s": time.monotonic() - t0}


def finetune(work: Path, freeze: str, epochs: int) -> dict:
    """Fine-tune init.lczmodel on train.h5 (``freeze``), then score it."""
    from lcz_qgis.training import finetune_keras

    out = work / f"ft_{freeze}.lczmodel"
    t0 = time.monotonic()
    res = finetune_keras(work / "train.h5", out, work / "init.lczmodel", epochs=epochs,
                         batch_size=BATCH, learning_rate=LEARNING_RATE, freeze=freeze,
                         early_stopping=0)  # fmt: skip
    wall = time.monotonic() - t0
    sps = [v for v in res.history["samples_per_second"] if v]
    sps = sps[1:] or sps
    return score_model(out, work / "held_out.h5") | {
        "patches_per_s": float(np.median(sps)), "fit_s": wall,
        "n_fit": int(res.manifest["training"]["n_train"]),
    }  # fmt: skip


def random_forest(work: Path) -> dict:
    """The 30-tree forest of map-from-areas on train.h5, scored on held_out.h5."""
    from lcz_qgis.common.feedback import Feedback
    from lcz_qgis.training_areas import patch_feature_rows, rf_fit_predict

    x, codes, _ = _read_file(work / "train.h5")
    hx, hcodes, hpolygons = _read_file(work / "held_out.h5")
    t0 = time.monotonic()
    features = np.concatenate([patch_feature_rows(x), patch_feature_rows(hx)])
    fit_predict = rf_fit_predict(features, np.concatenate([codes, hcodes]), RF_TREES, seed=0)
    rows = np.arange(len(codes))
    proba = fit_predict(rows, np.arange(len(codes), len(features)), 0, Feedback())
    wall = time.monotonic() - t0
    return score(proba, hcodes, hpolygons) | {
        "patches_per_s": len(codes) / wall, "fit_s": wall, "n_fit": len(codes),
    }  # fmt: skip


def _row(model, freeze, prep, r, published) -> dict:
    return {
        "model": model, "freeze": freeze,
        "training patches": r.get("n_fit", 0),
        "held-out patches / polygons": f"{prep['n_held']} / {prep['held_polygons']}",
        "patches/s": round(r["patches_per_s"], 1) if "patches_per_s" in r else "",
        "wall s": round(r["fit_s"] if "fit_s" in r else r["predict_s"], 1),
        "OA": round(r["oa"], 3), "kappa": round(r["kappa"], 3),
        "macro F1": round(r["macro_f1"], 3),
        "OA gain": f"{r['oa'] - published['oa']:+.3f}",
        "ECE before -> after": f"{published['ece']:.3f} -> {r['ece']:.3f}",
        "ECE calibrated": round(r["ece_calibrated"], 3), "T": round(r["temperature"], 2),
    }  # fmt: skip


def run(workdir) -> list[dict]:
    """Prepare the patches and the published model, then fine-tune it twice (all
    layers, head only) and train the forest; one row per model (module docstring)."""
    work = Path(workdir) / "finetune"
    work.mkdir(parents=True, exist_ok=True)
    call = "import json; from pathlib import Path; from benchmarks import bench_finetune as b; "
    w = f"Path({str(work)!r})"
    prep = run_python(call + f"print(json.dumps(b.prepare({w}, {N})))")
    published = run_python(
        call + f"print(json.dumps(b.score_model({w} / 'init.lczmodel', {w} / 'held_out.h5')))"
    )
    rows = [_row(prep["source"], "-", prep, published, published)]
    for freeze in ("none", "all-but-head"):
        r = run_python(call + f"print(json.dumps(b.finetune({w}, {freeze!r}, {EPOCHS})))")
        rows.append(_row(f"fine-tuned, {EPOCHS} epoch(s)", freeze, prep, r, published))
    r = run_python(call + f"print(json.dumps(b.random_forest({w})))")
    rows.append(_row(f"random forest, {RF_TREES} trees", "-", prep, r, published))
    print(f"{prep['n_polygons']} polygons with patches ({prep['train_polygons']} training, "
          f"{prep['held_polygons']} held out); {prep['n_train']} training patches from "
          f"{prep['renderings']} rendering(s) of the city")  # fmt: skip
    (work / "results.json").write_text(json.dumps({"prepare": prep, "rows": rows}, indent=1))
    return rows
