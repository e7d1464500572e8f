"""lcz train: train a model on a So2Sat LCZ42 HDF5 file (lcz:trainmodel)."""

from __future__ import annotations

from ..errors import LczError
from ..models import MODEL_TYPES, framework
from ..training import train_model

NAME = "train"
ORDER = 20
HELP = "train a model (rf, mlp, resnet50, fusion, sen2lcznet) on a So2Sat HDF5 file"
DESCRIPTION = (
    "Train a model on a So2Sat LCZ42 HDF5 file, streamed in batches (the file is never "
    "loaded whole). Keras models (mlp, mlp_diy, resnet50, fusion, fusion_late, sen2lcznet) "
    "take --epochs, --batch-size, --learning-rate, --schedule, --early-stopping, "
    "--class-weights and --augment; the kept weights are those of the epoch with the best "
    "validation OA. --report writes an HTML page with learning curves and the validation "
    "confusion matrix."
)
# Keras-only options: argparse dest -> train_keras keyword
KERAS_FLAGS = {
    "epochs": "epochs",
    "batch_size": "batch_size",
    "learning_rate": "learning_rate",
    "schedule": "schedule",
    "early_stopping": "early_stopping",
    "class_weights": "class_weights",
    "augment": "augment",
}
# rf-only options: argparse dest -> train_model keyword
RF_FLAGS = {"features": "features"}


def _flags(dests) -> str:
    return ", ".join("--" + d.replace("_", "-") for d in dests)


def add_arguments(p) -> None:
    from ..keras_training import (
        DEFAULT_BATCH_SIZE,
        DEFAULT_EARLY_STOPPING,
        DEFAULT_EPOCHS,
        DEFAULT_LEARNING_RATE,
        SCHEDULES,
    )

    p.add_argument("--train", required=True, help="So2Sat LCZ42 HDF5 file (sen1/sen2/label)")
    p.add_argument("--validation", help="validation HDF5 file (default: a seeded 10%% split)")
    p.add_argument("--model-type", default="rf", choices=list(MODEL_TYPES))
    p.add_argument("--sensor", default="sen2", choices=["sen2", "sen1", "fusion"])
    p.add_argument("--bands", default="", help="band subset, e.g. '5,6' or 'B2,B3,B4,B8'")
    p.add_argument("--features", choices=["stats", "raw"], help="rf only: feature set")
    p.add_argument("--max-samples", type=int, help="use at most this many training patches")
    p.add_argument("--seed", type=int, default=0)
    k = p.add_argument_group("Keras models")
    k.add_argument("--epochs", type=int, help=f"passes over the training data ({DEFAULT_EPOCHS})")
    k.add_argument("--batch-size", type=int, help=f"patches per batch ({DEFAULT_BATCH_SIZE})")
    k.add_argument(
        "--learning-rate", type=float, help=f"Adam learning rate ({DEFAULT_LEARNING_RATE})"
    )
    k.add_argument(
        "--schedule",
        choices=list(SCHEDULES),
        help="learning-rate schedule: constant (default), exponential (x0.9 every 1000 "
        "batches, as in the seed notebook) or cosine (to 0 at the end)",
    )
    k.add_argument(
        "--early-stopping",
        type=int,
        metavar="PATIENCE",
        help=f"stop after this many epochs without a better validation loss; 0 = off "
        f"({DEFAULT_EARLY_STOPPING})",
    )
    k.add_argument(
        "--class-weights",
        action="store_true",
        default=None,
        help="weight classes by inverse frequency (balanced)",
    )
    k.add_argument(
        "--augment",
        action="store_true",
        default=None,
        help="random flips and 90-degree rotations of training patches",
    )
    p.add_argument("--report", help="HTML training report to write (learning curves, confusion)")
    p.add_argument("--output", required=True, help="model file to write (.lczmodel)")


def run(args, feedback) -> int:
    from ..evaluation import json_text

    extra = {kw: getattr(args, dest) for dest, kw in RF_FLAGS.items()}
    extra = {k: v for k, v in extra.items() if v is not None}
    keras_opts = {kw: getattr(args, dest) for dest, kw in KERAS_FLAGS.items()}
    keras_opts = {k: v for k, v in keras_opts.items() if v is not None}
    is_keras = framework(args.model_type) == "keras"
    if not is_keras and keras_opts:
        raise LczError(f"{_flags(keras_opts)} apply to Keras models, not {args.model_type}")
    if is_keras and extra:
        raise LczError(f"{_flags(extra)} applies to rf models only, not {args.model_type}")
    result = train_model(
        train=args.train,
        output=args.output,
        model_type=args.model_type,
        sensor=args.sensor,
        bands=args.bands,
        validation=args.validation,
        seed=args.seed,
        max_samples=args.max_samples,
        feedback=feedback,
        report=args.report,
        **extra,
        **keras_opts,
    )
    summary = {"output": str(result.path), **result.manifest.get("scores", {})}
    if args.report:
        summary["report"] = args.report
    print(json_text(summary))
    return 0
