"""lcz train: train a model on a So2Sat LCZ42 HDF5 file (lcz:trainmodel)."""

from __future__ import annotations

import json

from ..models import MODEL_TYPES
from ..training import train_model

NAME = "train"
ORDER = 20
HELP = "train a model (rf, mlp, resnet50, fusion, sen2lcznet) on a So2Sat HDF5 file"


def add_arguments(p) -> None:
    p.add_argument("--train", required=True, help="So2Sat LCZ42 HDF5 file (sen1/sen2/label)")
    p.add_argument("--validation", help="validation HDF5 file (default: a seeded 10%% split)")
    p.add_argument("--model-type", default="rf", choices=list(MODEL_TYPES))
    p.add_argument("--sensor", default="sen2", choices=["sen2", "sen1", "fusion"])
    p.add_argument("--bands", default="", help="band subset, e.g. '5,6' or 'B2,B3,B4,B8'")
    p.add_argument("--features", choices=["stats", "raw"], help="rf only: feature set")
    p.add_argument("--max-samples", type=int, help="use at most this many training patches")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", required=True, help="model file to write (.lczmodel)")


def run(args, feedback) -> int:
    extra = {"features": args.features} if args.features else {}
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
        **extra,
    )
    print(json.dumps({"output": str(result.path), **result.manifest.get("scores", {})}, indent=1))
    return 0
