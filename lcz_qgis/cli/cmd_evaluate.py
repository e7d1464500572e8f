"""lcz evaluate: score a model on a labelled So2Sat HDF5 file (lcz:evaluatemodel)."""

from __future__ import annotations

from ..bands import SENSORS
from ..evaluation import DEFAULT_BATCH, evaluate_to_files, json_text, overall

NAME = "evaluate"
ORDER = 25
HELP = "score a model on a labelled So2Sat HDF5 file (OA, kappa, F1, OA_u, OA_bu, OA_w, per class)"
DESCRIPTION = (
    "Score a model (.lczmodel, or a plain Keras .keras/.h5 file) on a labelled So2Sat LCZ42 "
    "HDF5 file, streamed in batches. Prints the overall scores; writes the full results as "
    "JSON, a per-class CSV, an HTML report with the confusion matrix and/or the confusion "
    "matrix as PNG. Patches holding NaN or inf are skipped and counted."
)


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help=".lczmodel, .keras or .h5 model file")
    p.add_argument("--dataset", required=True, help="labelled So2Sat HDF5 file (e.g. testing.h5)")
    p.add_argument(
        "--sensor",
        choices=list(SENSORS),
        help="sensor of a plain Keras model (default: from its channel count 8/10/18)",
    )
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    p.add_argument(
        "--output-json",
        help="all scores, per-class values and the confusion matrix "
        "(rows = reference, columns = predicted, labelled 1-10, A-G)",
    )
    p.add_argument(
        "--csv",
        help="per-class precision (= user's accuracy, UA), recall (= producer's accuracy, "
        "PA) and F1, then the overall scores",
    )
    p.add_argument("--report", help="HTML report (scores, confusion matrix, per-class table)")
    p.add_argument("--confusion-png", help="confusion matrix plot (PNG)")


def run(args, feedback) -> int:
    scores, written = evaluate_to_files(
        args.model,
        args.dataset,
        output_json=args.output_json,
        csv_path=args.csv,
        report=args.report,
        confusion_png=args.confusion_png,
        feedback=feedback,
        batch_size=args.batch_size,
        sensor=args.sensor,
    )
    summary = {
        **overall(scores),
        "n": scores["n"],
        "n_skipped": scores["n_skipped"],
        **{k: str(v) for k, v in written.items()},
    }
    print(json_text(summary))
    return 0
