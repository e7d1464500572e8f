"""``lcz map-from-areas`` / lcz:mapfromtrainingareas: training areas + Sentinel-2 -> the
city's LCZ map, its bootstrap accuracy and a factsheet, in one step."""

from __future__ import annotations

from dataclasses import replace

from ..classify.postfilter import FILTERS
from ..training_areas.bootstrap import N_SPLITS
from ..training_areas.workflow import (
    FINETUNE_EPOCHS,
    MAX_EPOCHS,
    MAX_SPLITS,
    MAX_TREES,
    RF_TREES,
    MapRequest,
    map_from_training_areas,
)
from .classify import FILTER_LABELS
from .params import (
    PALETTE_HELP,
    language_param,
    legend_values,
    model_param,
    palette_param,
    runtime_param,
    seed_param,
)
from .spec import (
    ENUM,
    FILE_DEST,
    FLOAT,
    INT,
    OUT_NUMBER,
    RASTER_DEST,
    VECTOR_DEST,
    Command,
    Output,
    Param,
)
from .training_patches import COMMAND as PATCHES

MODEL_TYPE_LABELS = {
    "rf": "Random forest (as the LCZ Generator)",
    "finetune": "Fine-tune a Keras model (INIT_MODEL)",
}
OPTIONAL_OUTPUTS = ("CONFIDENCE", "AREA_TABLE", "MAP_IMAGE", "FACTSHEET", "MODEL_OUTPUT",
                    "SUSPICIOUS", "PREDICTIONS")  # fmt: skip


def _run(values: dict, feedback, given=None) -> dict:
    req = MapRequest(
        areas=values["AREAS"], sentinel2=values["SENTINEL2"], output=values["OUTPUT"],
        model_type=values["MODEL_TYPE"], init_model=values["INIT_MODEL"] or None,
        field=values["FIELD"] or None, scale=values["SCALE"], offset=values["OFFSET"] or 0.0, n_splits=values["SPLITS"],
        trees=values["TREES"], epochs=values["EPOCHS"], seed=values["SEED"],
        resolution=values["RESOLUTION"], filter=values["FILTER"], runtime=values["RUNTIME"],
        **{k.lower(): values[k] or None for k in OPTIONAL_OUTPUTS},
    )  # fmt: skip
    with legend_values(values):  # the map's colours and class names (.qml, image, factsheet)
        res = map_from_training_areas(req, feedback)  # checks every option before step 1
    out = {"OUTPUT": str(res.output), "_result": res}
    out |= {k: values[k] or None for k in OPTIONAL_OUTPUTS}
    s = res.bootstrap.summary
    out |= {f"{k.upper()}_MEAN": s[k]["mean"] for k in ("oa", "kappa")}
    out["ECE_AFTER"] = res.ece_after
    return out


def _report(values: dict, outputs: dict) -> str:
    res = outputs["_result"]
    s = res.bootstrap.summary
    scores = ", ".join(
        f"{k.upper()} {v['mean']:.3f} [{v['low']:.3f}-{v['high']:.3f}]" for k, v in s.items()
    )
    lines = [
        f"{res.output}: from {res.n_polygons} training areas, {res.n_patches} patches",
        f"bootstrap of {len(res.bootstrap.splits)} splits by polygon: {scores}",
        f"calibration: temperature {res.temperature:.3f}, ECE {res.ece_before:.3f} -> "
        f"{res.ece_after:.3f}; {len(res.suspects)} suspicious training area(s)",
    ]
    lines += [str(outputs[k]) for k in OPTIONAL_OUTPUTS if outputs.get(k)]
    return "\n".join(lines)


COMMAND = Command(
    name="map-from-areas",
    algorithm="mapfromtrainingareas",
    display_name="LCZ map from training areas",
    group="mapping",
    order=32,
    summary="training areas + Sentinel-2 -> the city's LCZ map with bootstrap accuracy, "
    "calibrated confidence and a factsheet (the LCZ Generator's workflow)",
    help=(
        "Makes the LCZ map of a city from its training areas, as the LCZ Generator does, "
        "offline: the training areas are checked and cut into 32 x 32 patches on a 100 m "
        "grid (as So2Sat patches from training areas), a model is trained and scored on "
        "many splits of the polygons, and the final model, trained on all of them, "
        "classifies the Sentinel-2 raster.<br>"
        "<b>Accuracy</b>: a bootstrap of splits (25 by default), each 70% of every class's "
        "polygons for training and 30% held out, never one polygon on both sides; OA, OA_u, "
        "OA_bu, OA_w, kappa and per-class F1 as the mean with a 95% interval over the "
        "splits, and the confusion matrix summed over all splits.<br>"
        "<b>Model</b>: a random forest on patch statistics (the LCZ Generator's classifier), "
        "or a Keras model file (an imported Sen2LCZ-Net or ResNet-20, or one trained here) "
        "fine-tuned on the city's patches.<br>"
        "<b>Confidence</b>: calibrated by a temperature fitted on the held-out polygons of "
        "all splits and stored in the model file; the factsheet gives the expected "
        "calibration error (15 bins) before and after.<br>"
        "<b>Outputs</b>: the map (at 100 m by default, with the Gaussian filter option), "
        "confidence, area table and map image as in Classify raster; the factsheet (HTML: "
        "boxplots of the scores, the class table, the training areas and the suspicious "
        "ones), the final model file, the suspicious training areas layer and every split's "
        "held-out predictions (CSV).<br>"
        "<b>Inference engine</b> (advanced): what runs the model files' predictions (the "
        "fine-tuned models' held-out patches and the final map), as in Classify raster; "
        "a random forest's splits predict with the forest just trained."
    ),
    params=[
        # the training areas and the raster as Patches from training areas declares them
        *(replace(PATCHES.param(k), keyword="") for k in ("AREAS", "FIELD", "SENTINEL2", "SCALE", "OFFSET")),
        Param("MODEL_TYPE", ENUM, "Model",
              "The classifier: a random forest, or a Keras model file fine-tuned on the "
              "city's patches.", choices=tuple(MODEL_TYPE_LABELS.items()), default="rf",
              keyword=""),
        model_param("INIT_MODEL", "Model to fine-tune (Keras .lczmodel)",
                    "The Keras model file to start from when fine-tuning.", optional=True,
                    keyword=""),
        Param("SPLITS", INT, "Bootstrap splits",
              "How many 70/30 splits by polygon train and score a model.", default=N_SPLITS,
              minimum=2, maximum=MAX_SPLITS, advanced=True, keyword=""),
        Param("TREES", INT, "Random forest trees",
              "The number of trees of each random forest.", default=RF_TREES, minimum=1,
              maximum=MAX_TREES, advanced=True, keyword=""),
        Param("EPOCHS", INT, "Fine-tuning epochs",
              "The epochs of each fine-tuning.", default=FINETUNE_EPOCHS, minimum=1,
              maximum=MAX_EPOCHS, advanced=True, keyword=""),
        seed_param("The seed of the splits and the models.", advanced=True, keyword=""),
        runtime_param(keyword=""),
        Param("RESOLUTION", FLOAT, "Map resolution in metres",
              "The map's pixel size in metres, a multiple of 10 from 10 to 320 (one 32 x 32 "
              "window; 100 as the LCZ Generator).", default=100.0, minimum=10.0,
              maximum=320.0, keyword=""),
        Param("FILTER", ENUM, "Post-classification filter", "The post-classification filter.",
              choices=tuple((c, FILTER_LABELS[c]) for c in FILTERS), default="none",
              keyword=""),
        palette_param(advanced=True, help=PALETTE_HELP + " The map's style, its image and "
                      "the factsheet's colours."),
        language_param(),
        Param("OUTPUT", RASTER_DEST, "LCZ map", "The LCZ map GeoTIFF.", keyword=""),
        Param("CONFIDENCE", RASTER_DEST, "Confidence (calibrated)",
              "The confidence GeoTIFF: the calibrated probability of the map's class.",
              optional=True, keyword=""),
        Param("AREA_TABLE", FILE_DEST, "Area per LCZ class", "The area per class, as CSV.",
              optional=True, keyword="", file_filter="CSV files (*.csv)"),
        Param("MAP_IMAGE", FILE_DEST, "Map image",
              "The map as a PNG with legend, scale bar and north arrow.", optional=True,
              keyword="", file_filter="PNG images (*.png)"),
        Param("FACTSHEET", FILE_DEST, "Factsheet (HTML)",
              "The factsheet: bootstrap scores, class table, calibration, training areas.",
              optional=True, keyword="", file_filter="HTML files (*.html)"),
        Param("MODEL_OUTPUT", FILE_DEST, "Final model file",
              "The final model (trained on all polygons, calibrated) as a .lczmodel.",
              optional=True, create_by_default=False, keyword="",
              file_filter="LCZ models (*.lczmodel)"),
        Param("SUSPICIOUS", VECTOR_DEST, "Suspicious training areas",
              "The GeoPackage of suspicious training areas (polygon id, class, reason).",
              optional=True, keyword=""),
        Param("PREDICTIONS", FILE_DEST, "Held-out predictions of every split (CSV)",
              "Every split's held-out patches with their reference and predicted class.",
              optional=True, create_by_default=False, advanced=True, keyword="",
              file_filter="CSV files (*.csv)"),
    ],
    outputs=[
        Output("OA_MEAN", OUT_NUMBER, "Overall accuracy (mean over the splits)"),
        Output("KAPPA_MEAN", OUT_NUMBER, "Kappa (mean over the splits)"),
        Output("ECE_AFTER", OUT_NUMBER, "Expected calibration error after calibration"),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
