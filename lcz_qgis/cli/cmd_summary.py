"""lcz summary: class counts, shapes and band statistics of a So2Sat file (lcz:datasetsummary)."""

from __future__ import annotations

from ..summary import DEFAULT_SAMPLE, dataset_summary

NAME = "summary"
ORDER = 12
HELP = "summarise a So2Sat HDF5 file: patches per class, shapes, band statistics"
DESCRIPTION = (
    HELP + ". Reads the labels and a seeded random sample of patches, never the images in "
    "full, so even the 52 GB training.h5 takes seconds."
)


def add_arguments(p) -> None:
    p.add_argument("--input", required=True, help="So2Sat LCZ42 HDF5 file")
    p.add_argument(
        "--sample-size",
        type=int,
        default=DEFAULT_SAMPLE,
        help=f"patches sampled for the band statistics (default {DEFAULT_SAMPLE})",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the random sample")
    p.add_argument("--output-html", help="HTML report to write (with the class histogram)")
    p.add_argument("--output-png", help="class histogram PNG to write (LCZ colours)")


def run(args, feedback) -> int:
    s = dataset_summary(
        args.input,
        output_html=args.output_html,
        output_png=args.output_png,
        sample_size=args.sample_size,
        seed=args.seed,
        feedback=feedback,
    )
    print(s.text())
    for label, path in (("html", args.output_html), ("png", args.output_png)):
        if path:
            print(f"{label}: {path}")
    return 0
