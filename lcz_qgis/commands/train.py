"""``lcz train`` / lcz:trainmodel: train a model on a So2Sat LCZ42 HDF5 file."""

from __future__ import annotations

from ..common.enums import Framework
from ..models import MODEL_TYPES, framework
from ..training.keras_model import DEFAULT_LEARNING_RATE, DEFAULT_SCHEDULE, SCHEDULES
from ..training.options import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EARLY_STOPPING,
    DEFAULT_EPOCHS,
    KerasOptions,
    check_applicable,
)
from ..training.rf import train_forest
from ..training.train import train_keras_model
from .choices import HDF5_FILTER
from .params import batch_param, model_param, seed_param, sensor_param
from .spec import (
    BOOL,
    ENUM,
    FILE,
    FILE_DEST,
    FLOAT,
    INT,
    OUT_NUMBER,
    STRING,
    Command,
    Output,
    Param,
)

MODEL_LABELS = {
    "rf": "Random forest (per-patch statistics; scikit-learn)",
    "mlp": "MLP (the seed notebook's, Dense 128)",
    "mlp_diy": "MLP, DIY (the seed notebook's, Dense 64 -> 32)",
    "resnet50": "ResNet50 (the seed notebook's)",
    "fusion": "Fusion: ResNet50 on Sentinel-1 + Sentinel-2",
    "fusion_late": "Late fusion: two-branch Sentinel-1 + Sentinel-2 CNN",
    "sen2lcznet": "Sen2LCZ-Net (compact multi-level fusion CNN)",
}
SCHEDULE_LABELS = {
    "constant": "Constant learning rate",
    "exponential": "Exponential (x0.9 every 1000 batches, as in the seed notebook)",
    "cosine": "Cosine (to 0 at the end)",
}
KERAS = ("EPOCHS", "BATCH_SIZE", "LEARNING_RATE", "SCHEDULE", "EARLY_STOPPING",
         "CLASS_WEIGHTS", "AUGMENT")  # fmt: skip
RF = ("FEATURES",)
FREEZE_LABELS = {
    "none": "None: train every layer",
    "all-but-head": "All but the classification head",
}


def _given(values: dict, given: set | None) -> dict:
    """The options the user gave, for ``check_applicable``: those typed in the CLI and
    FREEZE (its value; the dialog shows every option, so only FREEZE is checked there)."""
    typed = {k: values[k] for k in (*KERAS, *RF) if k in (given or set())}
    return {**typed, "FREEZE": values["FREEZE"]}


def _keras_options(values: dict, given: set | None) -> KerasOptions:
    """The request of a Keras run. Fine-tuning: the init model decides the model type,
    sensor and bands; the CLI passes those typed (checked against it), the dialog its
    SENSOR."""
    typed = given or set()
    model_type, sensor = values["MODEL_TYPE"], values["SENSOR"]
    if values["INIT_MODEL"]:
        model_type = model_type if "MODEL_TYPE" in typed else None
        sensor = sensor if (given is None or "SENSOR" in typed) else None
    return KerasOptions(
        **COMMAND.kwargs(values, "TRAIN", "OUTPUT", "BANDS", "VALIDATION", "SEED", "REPORT",
                         "INIT_MODEL", "FREEZE", *KERAS),
        model_type=model_type, sensor=sensor, max_samples=values["MAX_SAMPLES"] or None,
    )  # fmt: skip


def _run(values: dict, feedback, given=None) -> dict:
    model_type = values["MODEL_TYPE"]
    check_applicable(model_type, bool(values["INIT_MODEL"]), _given(values, given))
    if values["INIT_MODEL"] or framework(model_type) == Framework.KERAS:
        result = train_keras_model(_keras_options(values, given), feedback)
    else:
        result = train_forest(
            **COMMAND.kwargs(values, "TRAIN", "OUTPUT", "SENSOR", "BANDS", "VALIDATION",
                             "SEED", "FEATURES", "REPORT"),
            max_samples=values["MAX_SAMPLES"] or None, feedback=feedback,
        )  # fmt: skip
    return {
        "OUTPUT": str(result.path),
        "REPORT": values["REPORT"],
        "OA": result.scores.get("oa", float("nan")),
        "KAPPA": result.scores.get("kappa", float("nan")),
        "_result": result,
    }


def _report(values: dict, outputs: dict) -> str:
    from ..evaluation.evaluate import json_text

    result = outputs["_result"]
    summary = {"output": str(result.path), **result.manifest.get("scores", {})}
    if values["REPORT"]:
        summary["report"] = values["REPORT"]
    return json_text(summary)


def _keras(key, kind, label, help, default, **kw) -> Param:  # noqa: A002 - Param.help
    return Param(key, kind, label, help, default=default, advanced=True, **kw)


COMMAND = Command(
    name="train",
    algorithm="trainmodel",
    display_name="Train LCZ model",
    group="models",
    order=20,
    summary="train a model (rf, mlp, resnet50, fusion, sen2lcznet) on a So2Sat HDF5 file",
    help=(
        "Trains a model on a So2Sat LCZ42 HDF5 file (sen1, sen2, label), reading it in "
        "batches so even the 52 GB training file is never loaded whole.<br>"
        "<b>Model type</b>: rf = random forest on per-patch band, index and texture statistics "
        "(scikit-learn; no TensorFlow needed; <b>Features</b> raw = the raw pixels, as the "
        "seed notebook does). Keras models (need TensorFlow): mlp and mlp_diy "
        "(the seed notebook's MLPs), resnet50 (the notebook's ResNet50, 23.6 M parameters, "
        "slow on a CPU), fusion (ResNet50 on S1+S2) and fusion_late (two-branch S1+S2 CNN), "
        "sen2lcznet (compact multi-level-fusion CNN, 8% of ResNet50's computation).<br>"
        "<b>Sensor</b>: sen2 (10 bands), sen1 (8 channels) or fusion (S1 then S2; needed by "
        "the fusion model types).<br>"
        "<b>Bands</b>: optional subset, 1-based numbers or names, e.g. '5,6' (Sentinel-1 VH/VV "
        "intensities) or 'B2,B3,B4,B8'.<br>"
        "<b>Validation</b>: a second HDF5 file; without one a seeded, stratified 10% split is "
        "held out. The validation scores are stored in the model file and OA is an output.<br>"
        "<b>Keras options</b> (ignored by rf; the CLI refuses them for rf): epochs; batch "
        "size; Adam learning rate; schedule (constant, exponential = x0.9 every 1000 batches "
        "as in the seed notebook, cosine = decays to 0 at the end); early stopping = stop "
        "after this many epochs without a better validation loss (0 = off); class weights = "
        "balanced inverse-frequency weights; augment = random flips and 90-degree rotations. "
        "Inputs are standardised per channel with statistics streamed from the training file "
        "(stored in the model file and applied again when classifying). Batches are read in "
        "shuffled blocks of 256 consecutive patches. The weights kept are those of the epoch "
        "with the best validation OA. Patches holding NaN or inf are skipped (a warning gives "
        "the count). Cancel stops at the next batch and writes nothing.<br>"
        "<b>Report</b>: optional HTML page with the learning curves, the validation scores and "
        "the confusion matrix (opens in the results viewer).<br>"
        "<b>Fine-tuning</b>: with <b>Fine-tune this model</b> (a Keras model file: trained "
        "by this plugin, imported with <i>Import pretrained So2Sat model</i>, or a plain "
        ".keras/.h5) training starts from its weights instead of new ones. Its model type, "
        "sensor, bands and preprocessing are kept (the new patches are fed to it exactly as "
        "it expects, with its own normalisation), so Model type is not used and Sensor and "
        "Bands, if set, must be the model's. Freeze: all but the classification head trains "
        "only the last layer(s) with weights (quick, for few new patches). A learning rate "
        "lower than for new models (e.g. 1e-4) keeps what the model learnt. The log gives "
        "the model's validation scores before fine-tuning; the new model file records the "
        "init model's name, sha256 and scores (fine_tuned_from). A random forest cannot "
        "be fine-tuned; a calibration of the init model is dropped (calibrate again).<br>"
        "The model file (.lczmodel) records sensor, bands, preprocessing, classes, training "
        "data, history and scores."
    ),
    params=[
        Param("TRAIN", FILE, "Training data (So2Sat HDF5)",
              "The So2Sat LCZ42 HDF5 file to train on (sen1/sen2/label).",
              file_filter=HDF5_FILTER),
        Param("VALIDATION", FILE, "Validation data (So2Sat HDF5)",
              "A validation HDF5 file (default: a seeded, stratified 10% split).",
              optional=True, file_filter=HDF5_FILTER),
        Param("MODEL_TYPE", ENUM, "Model type", "The model to train.",
              choices=tuple((m, MODEL_LABELS[m]) for m in MODEL_TYPES), default="rf"),
        sensor_param(help="The images to train on."),
        Param("BANDS", STRING, "Bands (subset; empty = all)",
              "A band subset, e.g. '5,6' or 'B2,B3,B4,B8' (empty = all).", default="",
              optional=True),
        Param("FEATURES", ENUM, "Random forest features",
              "The random forest's features: per-patch statistics, or the raw pixels as in "
              "the seed notebook (rf only).",
              choices=(("stats", "Per-patch statistics"), ("raw", "Raw pixels")),
              default="stats", advanced=True),
        Param("MAX_SAMPLES", INT, "Maximum training patches (0 = all)",
              "Use at most this many training patches; 0 = all.", default=0, minimum=0),
        seed_param("The seed of the split, sampling and training."),
        _keras("EPOCHS", INT, "Epochs (Keras)", "Passes over the training data (Keras).",
               DEFAULT_EPOCHS, minimum=1),
        batch_param("Batch size (Keras)", "Patches per batch (Keras).", DEFAULT_BATCH_SIZE),
        _keras("LEARNING_RATE", FLOAT, "Learning rate (Keras, Adam)",
               "The Adam learning rate (Keras).", DEFAULT_LEARNING_RATE, minimum=1e-9),
        _keras("SCHEDULE", ENUM, "Learning-rate schedule (Keras)",
               "The learning-rate schedule (Keras).", DEFAULT_SCHEDULE,
               choices=tuple((s, SCHEDULE_LABELS[s]) for s in SCHEDULES)),
        _keras("EARLY_STOPPING", INT, "Early stopping patience in epochs (Keras; 0 = off)",
               "Stop after this many epochs without a better validation loss; 0 = off "
               "(Keras).", DEFAULT_EARLY_STOPPING, minimum=0, metavar="PATIENCE"),
        _keras("CLASS_WEIGHTS", BOOL, "Balance classes with class weights (Keras)",
               "Weight the classes by inverse frequency, balanced (Keras).", False),
        _keras("AUGMENT", BOOL, "Augment with random flips and rotations (Keras)",
               "Random flips and 90-degree rotations of the training patches (Keras).", False),
        model_param("INIT_MODEL", "Fine-tune this model (Keras model file)",
                    "Start from this Keras model file (.lczmodel, .keras, .h5: one trained by "
                    "this plugin or an imported So2Sat model) and continue training it on the "
                    "training data; its model type, sensor, bands and preprocessing are kept.",
                    optional=True),
        Param("FREEZE", ENUM, "Layers to freeze when fine-tuning",
              "When fine-tuning: train every layer, or freeze all layers but the "
              "classification head.", choices=tuple(FREEZE_LABELS.items()), default="none",
              advanced=True),
        Param("OUTPUT", FILE_DEST, "Model file", "The model file to write (.lczmodel).",
              file_filter="LCZ model (*.lczmodel)"),
        Param("REPORT", FILE_DEST, "Training report",
              "An HTML training report: learning curves and the validation confusion matrix.",
              optional=True, create_by_default=False, file_filter="HTML files (*.html)"),
    ],
    outputs=[
        Output("OA", OUT_NUMBER, "Validation overall accuracy"),
        Output("KAPPA", OUT_NUMBER, "Validation kappa"),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
