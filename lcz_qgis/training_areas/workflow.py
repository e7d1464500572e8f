"""One step from training areas to a city's LCZ map, as the LCZ Generator does it.

Steps (``map_from_training_areas``):

1. the training areas are read, checked (``quality``) and cut into So2Sat-format
   patches (``patches.training_area_patches``) in a temporary folder;
2. a bootstrap of ``N_SPLITS`` 70/30 splits by polygon trains and scores a model per
   split (``bootstrap``): a random forest on the patch features, or the published CNN
   fine-tuned (``training.train.train_model`` with an initial model);
3. a temperature is fitted on the held-out polygons' probabilities of all splits
   (``models.calibration``), so the map's confidence means what it says;
4. the final model is trained on all polygons, calibrated, and classifies the raster
   (``classify.pipeline.classify_raster``: map, confidence, area table, map image, the
   Gaussian filter option);
5. the factsheet (``reports.factsheet``) shows the scores, the class table, the training
   areas and the suspicious ones.

The inference engine (``MapRequest.runtime``, as ``models.modelfile.load_model`` takes
it) runs every prediction made from a model file: the fine-tuned models' held-out
predictions of step 2 (so the temperature of step 3 is fitted on that engine's
probabilities) and the final map of step 4. A random forest's splits predict with the
forest just fitted in memory (scikit-learn trains it, so it is there); its final map
runs on the chosen engine.

Every option is checked before step 1 (``check_request``: the CLI, Processing and the
API get the same checks). Nothing is left behind on error or cancel, and no earlier
output is touched: the patches live in a temporary folder, and every output of the run
(the suspicious layer of step 1, the map and its companions of step 4, the model file,
factsheet and predictions of step 5) is written to a temporary beside it and all are
moved into place together when the whole run succeeded (``common.atomic.staged_outputs``).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..common.enums import Sensor
from ..common.errors import LczError
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from .bootstrap import N_SPLITS, BootstrapResult, chance_alarm, run_bootstrap

MODEL_TYPES = ("rf", "finetune")
RF_TREES = 100
MAX_TREES = 2000
FINETUNE_EPOCHS = 5
MAX_EPOCHS = 1000
MAX_SPLITS = 1000
# fine-tuning moves a trained network a little: a tenth of training's default learning rate
FINETUNE_LEARNING_RATE = 1e-4
FINETUNE_BATCH = 32


@dataclass
class MapRequest:
    """What to make: inputs, model choice and the outputs (None = not written)."""

    areas: object
    sentinel2: str
    output: str
    model_type: str = "rf"
    init_model: str | None = None
    field: str | None = None
    scale: str = "auto"
    offset: float = 0.0
    n_splits: int = N_SPLITS
    trees: int = RF_TREES
    epochs: int = FINETUNE_EPOCHS
    seed: int = 0
    resolution: float | None = 100.0
    filter: str = "none"
    confidence: str | None = None
    area_table: str | None = None
    map_image: str | None = None
    factsheet: str | None = None
    model_output: str | None = None
    suspicious: str | None = None
    predictions: str | None = None
    runtime: str = "auto"


@dataclass
class MapResult:
    """What was made, with the numbers the factsheet shows."""

    output: Path
    bootstrap: BootstrapResult
    temperature: float
    ece_before: float
    ece_after: float
    n_patches: int
    n_polygons: int
    class_table: list = field(default_factory=list)
    suspects: list = field(default_factory=list)
    replaced: list = field(default_factory=list)
    classify: object = None
    seconds: dict = field(default_factory=dict)
    # "before"/"after" calibration: the reliability tables of the held-out patches
    reliability: dict = field(default_factory=dict)
    alarm: str = ""  # the chance-level warning (``bootstrap.chance_alarm``), or ""


@dataclass
class _Patches:
    x: np.ndarray  # rf: (N, F) patch features; fine-tuning: (N, 32, 32, 10) reflectance
    codes: np.ndarray  # (N,) 1..17
    polygons: np.ndarray  # (N,) polygon id
    result: object  # patches.TrainingPatchesResult


def check_request(req: MapRequest) -> None:
    """Refuse a bad request before any work (step 1 included): every option, the input
    files, the initial model and the outputs. The one check the CLI, Processing and the
    API share.

    Raises:
        LczError: with the parameter's name.
    """
    from ..common.atomic import check_distinct_paths, check_output_path
    from ..common.errors import param
    from ..common.input_files import check_input_file

    _check_options(req)
    if req.model_type == "finetune" and not req.init_model:
        raise LczError(f"fine-tuning needs {param('INIT_MODEL')}: the model to start from")
    if not isinstance(req.areas, (list, tuple)):
        check_input_file(str(req.areas).split("|")[0], f"{param('AREAS')}: training areas",
                         folder_ok=True)  # fmt: skip
    check_input_file(req.sentinel2, f"{param('SENTINEL2')} raster")
    _check_resolution(req)
    outputs = {
        param(k): getattr(req, k.lower())
        for k in ("OUTPUT", "CONFIDENCE", "AREA_TABLE", "MAP_IMAGE", "FACTSHEET",
                  "MODEL_OUTPUT", "SUSPICIOUS", "PREDICTIONS")
    }  # fmt: skip
    _check_suffixes(req)
    for path in outputs.values():
        if path:
            check_output_path(path)
    inputs = {param("SENTINEL2"): req.sentinel2, param("INIT_MODEL"): req.init_model}
    if not isinstance(req.areas, (list, tuple)):
        inputs[param("AREAS")] = str(req.areas).split("|")[0]
    check_distinct_paths(inputs, outputs)
    if req.model_type == "finetune":
        _check_init_model(req.init_model)


def _whole(value, key: str, low: int, high: int) -> int:
    """``value`` as an int when it is a whole number ``low``..``high``, else LczError
    naming the parameter ``key``."""
    from ..common.errors import param

    try:
        n = int(value)
        whole = n == value and not isinstance(value, bool)
    except (TypeError, ValueError, OverflowError):
        whole = False
    if not whole or not low <= n <= high:
        raise LczError(f"{param(key)} must be a whole number from {low} to {high}; got {value}")
    return n


def _check_options(req: MapRequest) -> None:
    """The choices and numbers of a request: model type, scale, filter, splits, trees,
    epochs, seed (each split's model takes seed + its index) and the runtime."""
    from ..classify.inputs import parse_offset
    from ..classify.postfilter import FILTERS
    from ..common.errors import MAX_SEED, param
    from ..models.model import RUNTIMES

    parse_offset(req.offset, req.scale)  # the scale (a code or a factor) and the offset
    choices = (("MODEL_TYPE", req.model_type, MODEL_TYPES), ("FILTER", req.filter, FILTERS),
               ("RUNTIME", req.runtime, RUNTIMES))  # fmt: skip
    for key, value, allowed in choices:
        if value not in allowed:
            raise LczError(f"{param(key)} must be one of {', '.join(allowed)}; got {value!r}")
    splits = _whole(req.n_splits, "SPLITS", 2, MAX_SPLITS)
    _whole(req.trees, "TREES", 1, MAX_TREES)
    _whole(req.epochs, "EPOCHS", 1, MAX_EPOCHS)
    _whole(req.seed, "SEED", 0, MAX_SEED - splits)
    _check_onnx_runtime(req)


def _check_onnx_runtime(req: MapRequest) -> None:
    """The ``onnx`` runtime needs the run's model files to get their ONNX graph: the
    converter of the model type and ONNX Runtime, checked before any work (not after the
    bootstrap, when the final map would find no graph).

    Raises:
        MissingDependency: a package the graph or ONNX Runtime needs, named.
    """
    from ..common.enums import Framework
    from ..common.errors import MissingDependency, param
    from ..models.onnx_export import missing_converters

    if req.runtime != "onnx":
        return
    framework = Framework.SKLEARN if req.model_type == "rf" else Framework.KERAS
    missing = missing_converters(framework)
    if missing:
        raise MissingDependency(missing[0], f"{param('RUNTIME')} onnx (the ONNX graph of "
                                            f"the {req.model_type} model files)")  # fmt: skip


def _check_resolution(req: MapRequest) -> None:
    """The map's resolution: a whole multiple of the Sentinel-2 raster's pixel size that
    is one window (32 pixels) at most, as ``classify_raster`` will need it."""
    from ..classify.pipeline import stride_for
    from ..classify.sliding_window import WINDOW
    from ..common.errors import param
    from ..raster.io import open_raster

    if req.resolution is None:
        return
    ds, info = open_raster(req.sentinel2)
    ds.close()
    pixel = abs(float(info.pixel_size[0]))
    try:
        value = float(req.resolution)
        stride = stride_for(value, pixel)
    except (TypeError, ValueError, LczError):
        stride = 0
    if not 1 <= stride <= WINDOW:
        raise LczError(
            f"{param('RESOLUTION')} must be a multiple of the raster's {pixel:g} m pixels "
            f"from {pixel:g} to {WINDOW * pixel:g} m (100 as the LCZ Generator); got "
            f"{req.resolution}"
        )


def _check_suffixes(req: MapRequest) -> None:
    """Outputs whose format the name must say: the model file, the suspicious layer."""
    from ..common.errors import param

    if req.model_output and Path(req.model_output).suffix.lower() != ".lczmodel":
        raise LczError(f"{param('MODEL_OUTPUT')}: the model is written as an .lczmodel file "
                       f"(a zip); give a .lczmodel name, not '{Path(req.model_output).name}'")  # fmt: skip
    if req.suspicious and Path(req.suspicious).suffix.lower() != ".gpkg":
        raise LczError(f"{param('SUSPICIOUS')}: the suspicious areas are written as a "
                       "GeoPackage: give a .gpkg name")  # fmt: skip


def _check_init_model(path) -> None:
    """The model to fine-tune, checked as fine-tuning checks it (``init_model.open_init_model``:
    it exists, is a Keras network, loads safely) and a Sentinel-2 one (the training areas'
    patches are Sentinel-2 only): refused before the patches are cut, not at the first
    split."""
    from ..common.errors import param
    from ..training.init_model import open_init_model

    init = open_init_model(path)
    if init.sensor != Sensor.SEN2:
        raise LczError(
            f"{param('INIT_MODEL')} '{Path(path).name}' takes {init.sensor} patches; the "
            "training areas give Sentinel-2 patches only: give a Sentinel-2 model"
        )


READ_ROWS = 2048  # patches read (and turned into features) at a time


def _make_patches(req: MapRequest, folder: Path, staging, feedback: Feedback) -> _Patches:
    """Step 1: the training areas' patches (in ``folder``), read back by chunks; the
    suspicious layer is staged in ``staging`` with the run's other outputs.

    A random forest needs only the patch features, so the pixels are not kept for it
    (20,000 patches are 820 MB of float32 pixels); fine-tuning keeps them, in float32.
    """
    from ..so2sat.file import So2SatFile, checked_dataset
    from .patches import training_area_patches

    path = folder / "training_patches.h5"
    res = training_area_patches(
        req.areas, req.sentinel2, path, field=req.field, scale=req.scale, offset=req.offset,
        suspicious=req.suspicious, feedback=feedback, staging=staging,
    )  # fmt: skip
    chunks = []
    with So2SatFile(path) as f:
        for start in range(0, f.n, READ_ROWS):
            feedback.check_cancelled()
            x = f.read(Sensor.SEN2, np.arange(start, min(start + READ_ROWS, f.n)))
            x = x.astype(np.float32)
            chunks.append(patch_feature_rows(x) if req.model_type == "rf" else x)
        codes = f.labels()
        polygons = np.asarray(checked_dataset(f._h5, path, "polygon")[...], np.int64)
    data = np.concatenate(chunks)
    return _Patches(data, codes.astype(np.int64), polygons, res)


def patch_feature_rows(x: np.ndarray) -> np.ndarray:
    """The random forest's features (``models.features.patch_features``, "stats") of
    Sentinel-2 patches (N, 32, 32, 10) in So2Sat scale."""
    from ..common.bands import SEN2_BANDS
    from ..models.features import patch_features

    return patch_features(np.asarray(x, np.float32), SEN2_BANDS)


def rf_fit_predict(features: np.ndarray, codes: np.ndarray, trees: int = RF_TREES, seed: int = 0):
    """A ``fit_predict`` for ``bootstrap.run_bootstrap``, as map-from-areas makes it: a
    random forest of ``trees`` trees (seed ``seed`` + the split's index) fitted on the
    training rows of ``features`` (``patch_feature_rows``) and ``codes`` (1..17).

    Returns:
        ``fit_predict(train_rows, test_rows, index, feedback) -> (n_test, 17)``
        probabilities of the LCZ codes 1..17 (classes never seen get 0).
    """
    from ..models import rf

    def fit_predict(train_rows, test_rows, index, feedback):
        est = rf.fit(features[train_rows], codes[train_rows], seed + index, feedback, trees)
        return _proba17(est, features[test_rows])

    return fit_predict


def _proba17(est, x: np.ndarray) -> np.ndarray:
    """(n, 17) probabilities of a fitted forest (classes it never saw get 0)."""
    out = np.zeros((len(x), N_CLASSES), np.float64)
    out[:, np.asarray(est.classes_, np.int64) - 1] = est.predict_proba(x)
    return out


def _finetune_fit_predict(req: MapRequest, patches: _Patches, folder: Path):
    """A ``fit_predict`` for the bootstrap: the initial model fine-tuned per split."""
    from ..models.modelfile import load_model

    def fit_predict(train_rows, test_rows, index, feedback):
        split_file = folder / f"split_{index}.h5"
        model_file = folder / f"split_{index}.lczmodel"
        _write_subset(split_file, patches, train_rows)
        _finetune(req, split_file, model_file, req.seed + index, feedback)
        model = load_model(model_file, runtime=req.runtime)
        feedback.info(f"split {index}: held-out patches predicted on {model.engine.label}")
        proba = model.predict_proba(patches.x[test_rows].astype(np.float64))
        split_file.unlink()
        model_file.unlink()
        return proba

    return fit_predict


def _write_subset(path: Path, patches: _Patches, rows: np.ndarray) -> None:
    """A So2Sat file of some rows of the patches (the training side of a split)."""
    import h5py

    onehot = np.zeros((len(rows), N_CLASSES), np.float64)
    onehot[np.arange(len(rows)), patches.codes[rows] - 1] = 1.0
    with h5py.File(path, "w") as f:
        f.create_dataset(Sensor.SEN2, data=patches.x[rows].astype(np.float64))
        f.create_dataset("label", data=onehot)


def _finetune(req: MapRequest, train_file: Path, model_file: Path, seed: int, feedback) -> None:
    from ..training import train_model

    train_model(
        train_file, model_file, model_type=None, sensor=None, init_model=req.init_model,
        epochs=req.epochs, seed=seed, feedback=feedback,
        learning_rate=FINETUNE_LEARNING_RATE, batch_size=FINETUNE_BATCH,
    )  # fmt: skip


def _calibrate(boot: BootstrapResult) -> tuple[float, float, float, dict]:
    """Step 3: the temperature from the held-out probabilities of all splits, and the
    ECE (15 bins) before and after, each split's ECE-after measured with a temperature
    fitted on the *other* splits (so the after is not scored on its own fit).

    Returns:
        (temperature, ECE before, ECE after, reliability tables): the ECEs are means over
        the splits; the tables (``evaluation.metrics.calibration_table``, "before" and
        "after") pool the held-out patches of all splits, for the reliability diagram.
    """
    from ..evaluation.metrics import (
        calibration_bin_counts,
        calibration_table,
        expected_calibration_error,
    )
    from ..models.calibration import apply_temperature, fit_temperature

    proba = np.concatenate([s.probabilities for s in boot.splits])
    ref = np.concatenate([s.reference for s in boot.splits])
    temperature = fit_temperature(proba, ref)
    before, after = [], []
    bins = {"before": 0.0, "after": 0.0}
    for k, s in enumerate(boot.splits):
        others = [o for j, o in enumerate(boot.splits) if j != k]
        t = fit_temperature(
            np.concatenate([o.probabilities for o in others]),
            np.concatenate([o.reference for o in others]),
        )
        top = {"before": s.probabilities.max(axis=1),
               "after": apply_temperature(s.probabilities, t).max(axis=1)}  # fmt: skip
        correct = s.predicted == s.reference
        before.append(expected_calibration_error(top["before"], correct))
        after.append(expected_calibration_error(top["after"], correct))
        for key, conf in top.items():
            bins[key] = bins[key] + calibration_bin_counts(conf, correct)
    tables = {k: calibration_table(v) for k, v in bins.items()}
    return float(temperature), float(np.mean(before)), float(np.mean(after)), tables


def class_table(patches: _Patches, boot: BootstrapResult) -> list[dict]:
    """Per LCZ class present: polygons, patches, and its F1 over the splits."""
    from ..common.legend import lcz_class

    rows = []
    for code in np.unique(patches.codes):
        c = lcz_class(int(code))
        f1 = boot.per_class_f1.get(int(code), {})
        rows.append({
            "code": int(code), "lcz": c.letter, "name": c.name,
            "polygons": int(len(np.unique(patches.polygons[patches.codes == code]))),
            "patches": int((patches.codes == code).sum()),
            "f1_mean": f1.get("mean", float("nan")), "f1_low": f1.get("low", float("nan")),
            "f1_high": f1.get("high", float("nan")),
        })  # fmt: skip
    return rows


def _final_model(req: MapRequest, patches: _Patches, features, folder: Path, temperature: float,
                 boot: BootstrapResult, feedback: Feedback) -> Path:  # fmt: skip
    """Step 4a: the model trained on all polygons, with its calibration, in ``folder``."""
    from ..models.calibration import calibration_entry
    from ..models.modelfile import load_model, save_with_manifest

    trained = folder / "all_polygons.lczmodel"
    if req.model_type == "rf":
        _save_rf(req, patches, features, trained, boot, feedback)
    else:
        everything = folder / "all_polygons.h5"
        _write_subset(everything, patches, np.arange(len(patches.codes)))
        _finetune(req, everything, trained, req.seed, feedback)
    feedback.info("final model: reading its file back to add the calibration")
    model = load_model(trained)
    manifest = dict(model.manifest)
    if req.model_type == "finetune":
        # the honest scores are the bootstrap's (held-out polygons), not those of the
        # random 10% of patches the fine-tuning picked its best epoch on
        # (n_train and class_counts stay the fine-tuning's: the patches it trained on)
        tr, areas = manifest["training"], _areas_record(req, patches, boot)
        manifest["training"] = {**areas, **tr, "file": areas["file"], "validation":
                                areas["validation"], "epoch_validation": tr.get("validation")}  # fmt: skip
        manifest["scores"] = {k: v["mean"] for k, v in boot.summary.items()}
    n_held_out = sum(len(s.reference) for s in boot.splits)
    manifest["calibration"] = calibration_entry(temperature, "held-out polygons", n_held_out)
    final = folder / "final.lczmodel"
    save_with_manifest(final, model, manifest)
    return final


def _save_rf(req, patches: _Patches, features, path: Path, boot, feedback: Feedback) -> None:
    """The final random forest on every patch, with a manifest saying where it came from."""
    from ..common.bands import SEN2_BANDS
    from ..models import rf
    from ..models.modelfile import new_manifest, save_sklearn_model

    est = rf.fit(features, patches.codes, req.seed, feedback, req.trees)
    feedback.info("final model: trained; writing its file")  # then save_network's steps
    training = _areas_record(req, patches, boot)
    training |= {"seed": req.seed, "n_trees": req.trees, "features": "stats"}
    manifest = new_manifest(
        "rf", "sklearn", Sensor.SEN2, list(range(len(SEN2_BANDS))),
        preprocessing=[{"type": "patch_features", "band_names": list(SEN2_BANDS), "set": "stats"}],
        training=training, scores={k: v["mean"] for k, v in boot.summary.items()},
    )  # fmt: skip
    save_sklearn_model(path, est, manifest, feedback)


def _areas_record(req: MapRequest, patches: _Patches, boot: BootstrapResult) -> dict:
    """The manifest's ``training`` entries saying the model comes from training areas."""
    areas = req.areas
    return {
        "file": f"training areas {Path(str(areas)).name}" if isinstance(areas, (str, Path))
        else "training areas",
        "n_train": int(len(patches.codes)),
        "n_polygons": int(len(np.unique(patches.polygons))),
        "class_counts": np.bincount(patches.codes, minlength=N_CLASSES + 1)[1:].tolist(),
        "validation": f"bootstrap of {len(boot.splits)} 70/30 splits by polygon",
    }  # fmt: skip


# the map's outputs: MapRequest attribute -> ClassifyResult.outputs key
_MAP_OUTPUTS = {"output": "OUTPUT", "confidence": "CONFIDENCE", "area_table": "AREA_TABLE",
                "map_image": "MAP_IMAGE"}  # fmt: skip


def _classify(req: MapRequest, model_path: Path, st, feedback: Feedback, alarm: str = "",
              accuracy: str = ""):  # fmt: skip
    """Step 4b: the map, as ``lcz classify`` makes it, written to temporaries of the
    run's staging ``st`` (with the rasters' styles), so it is moved into place with the
    run's other outputs; the result names the real outputs. The map image's subtitle
    gives the bootstrap's ``accuracy`` (with its intervals) and, under it, the
    chance-level ``alarm`` when there is one."""
    from ..classify.pipeline import classify_raster
    from ..models.modelfile import load_model
    from ..raster.io import qml_path

    final = {k: getattr(req, k) for k in _MAP_OUTPUTS if getattr(req, k)}
    temp = {k: st.temp(v) for k, v in final.items()}
    for k in ("output", "confidence"):
        if k in temp:  # classify_raster writes each raster's style beside it
            st.adopt(qml_path(temp[k]), qml_path(final[k]))
    feedback.info("the map: loading the final model file")
    model = load_model(model_path, runtime=req.runtime)
    feedback.info(f"the map: {model.model_type} model on {model.engine.label}")
    result = classify_raster(
        model, temp["output"], sentinel2=req.sentinel2,
        confidence=temp.get("confidence"), feedback=feedback, scale=req.scale, offset=req.offset,
        resolution=req.resolution, filter=req.filter, area_table=temp.get("area_table"),
        map_image=temp.get("map_image"), map_title="LCZ map from training areas",
    )  # fmt: skip
    if (alarm or accuracy) and "map_image" in temp:  # drawn again: intervals, warning
        from ..classify.map_image import map_subtitle, render_map_png

        feedback.info("the map image: drawn again with the bootstrap's accuracy")
        cell = float(result.cell_area_m2) ** 0.5
        subtitle = map_subtitle(model.model_type, model.sensor, cell, req.filter, accuracy)
        render_map_png(temp["output"], temp["map_image"], "LCZ map from training areas",
                       subtitle, warning=alarm)  # fmt: skip
    result.output = Path(req.output)
    result.outputs = {_MAP_OUTPUTS[k]: Path(v) for k, v in final.items()}
    return result


def _bootstrap(req: MapRequest, patches: _Patches, features, folder: Path, feedback):
    """Step 2: the splits, with the model type's ``fit_predict``."""
    if req.model_type == "rf":
        fit_predict = rf_fit_predict(features, patches.codes, req.trees, req.seed)
    else:
        fit_predict = _finetune_fit_predict(req, patches, folder)
    return run_bootstrap(
        patches.polygons, patches.codes, fit_predict, req.n_splits, req.seed, feedback
    )


def map_from_training_areas(req: MapRequest, feedback: Feedback | None = None) -> MapResult:
    """Training areas + a Sentinel-2 raster -> the city's LCZ map, its accuracy and the
    factsheet (module docstring for the steps).

    Raises:
        LczError: bad input (areas, raster, parameters), before anything is written; a
            failure at any later step leaves every earlier output as it was.
        Cancelled: the user cancelled; nothing is left behind.
    """
    from ..common.atomic import staged_outputs

    feedback = feedback or Feedback()
    check_request(req)
    t0 = time.monotonic()
    # every output, step 1's suspicious layer included, is staged and moved into place
    # together once the whole run succeeded (the working folder is removed first)
    with staged_outputs(feedback) as st:
        with tempfile.TemporaryDirectory(prefix="lcz-areas-", dir=Path(req.output).parent) as tmp:
            result = _steps(req, st, Path(tmp), feedback)
        feedback.check_cancelled()
    result.seconds["total"] = time.monotonic() - t0
    feedback.progress(100)
    return result


def _steps(req: MapRequest, st, folder: Path, feedback: Feedback) -> MapResult:
    """Steps 1-5 with the run's staging ``st`` and working folder ``folder``."""
    from ..classify.map_image import bootstrap_accuracy

    times, t0 = {}, time.monotonic()
    feedback.info("1/5 training areas -> patches")
    patches = _make_patches(req, folder, st, feedback.scaled(0, 15))
    features = patches.x if req.model_type == "rf" else None
    times["patches"] = time.monotonic() - t0
    feedback.info(f"2/5 bootstrap of {req.n_splits} splits by polygon ({req.model_type})")
    boot = _bootstrap(req, patches, features, folder, feedback.scaled(15, 70))
    times["bootstrap"] = time.monotonic() - t0 - times["patches"]
    _report_scores(boot, feedback)
    alarm = chance_alarm(boot)
    if alarm:
        feedback.warning(alarm)
    temperature, ece_before, ece_after, reliability = _calibrate(boot)
    feedback.info(f"3/5 calibration: temperature {temperature:.3f}, ECE "
                  f"{ece_before:.3f} -> {ece_after:.3f} (held-out polygons)")  # fmt: skip
    feedback.info("4/5 final model on all polygons, then the map")
    model = _final_model(req, patches, features, folder, temperature, boot,
                         feedback.scaled(70, 80))  # fmt: skip
    result = MapResult(
        Path(req.output), boot, temperature, ece_before, ece_after, len(patches.codes),
        int(len(np.unique(patches.polygons))), class_table(patches, boot),
        list(patches.result.suspects), list(patches.result.quality.replaced),
    )  # fmt: skip
    result.seconds, result.reliability, result.alarm = dict(times), reliability, alarm
    accuracy = bootstrap_accuracy(boot.summary, len(boot.splits))
    result.classify = _classify(req, model, st, feedback.scaled(80, 98), alarm, accuracy)
    feedback.info("5/5 the factsheet and the other outputs")
    _write_extras(st, req, result, model, patches)
    return result


def _report_scores(boot: BootstrapResult, feedback: Feedback) -> None:
    s = boot.summary
    feedback.info(
        "bootstrap: " + ", ".join(
            f"{k} {v['mean']:.3f} [{v['low']:.3f}, {v['high']:.3f}]" for k, v in s.items()
        ) + f"; {boot.seconds_per_split:.1f} s per split"
    )  # fmt: skip


def _write_extras(st, req: MapRequest, result: MapResult, model: Path, patches) -> None:
    """Step 5: the factsheet, the model file and the split predictions (staged)."""
    import shutil

    from .bootstrap import predictions_table

    if req.factsheet:
        from ..reports.factsheet import factsheet_html

        Path(st.temp(req.factsheet)).write_text(factsheet_html(result, req), encoding="utf-8")
    if req.model_output:
        shutil.copyfile(model, st.temp(req.model_output))
    if req.predictions:
        text = predictions_table(result.bootstrap, patches.polygons)
        Path(st.temp(req.predictions)).write_text(text, encoding="utf-8")
