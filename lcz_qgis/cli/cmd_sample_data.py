"""lcz sample-data: write the synthetic sample data (lcz:sampledata)."""

from __future__ import annotations

from ..sample_data import (
    DEFAULT_TEST,
    DEFAULT_TRAIN,
    MIN_PATCHES,
    MIN_PER_CLASS,
    write_sample_data,
)

NAME = "sample-data"
ORDER = 10
HELP = "write the SYNTHETIC sample data: train.h5, test.h5 and a sample city"


def add_arguments(p) -> None:
    p.add_argument(
        "--output-folder",
        required=True,
        help="the folder to write into (made if its parent exists)",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed (default %(default)s)")
    least = f"at least {MIN_PATCHES}: {MIN_PER_CLASS} per class"
    p.add_argument(
        "--train-size",
        type=int,
        default=DEFAULT_TRAIN,
        help=f"patches in train.h5 (default %(default)s; {least})",
    )
    p.add_argument(
        "--test-size",
        type=int,
        default=DEFAULT_TEST,
        help=f"patches in test.h5 (default %(default)s; {least})",
    )


def run(args, feedback) -> int:
    paths = write_sample_data(
        args.output_folder, args.seed, args.train_size, args.test_size, feedback
    )
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
