"""lcz sample-data: write the synthetic sample data (lcz:sampledata)."""

from __future__ import annotations

from ..sample_data import DEFAULT_TEST, DEFAULT_TRAIN, write_sample_data

NAME = "sample-data"
ORDER = 10
HELP = "write the SYNTHETIC sample data: train.h5, test.h5 and a sample city"


def add_arguments(p) -> None:
    p.add_argument("--output-folder", required=True, help="an existing folder")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--train-size", type=int, default=DEFAULT_TRAIN, help="patches in train.h5")
    p.add_argument("--test-size", type=int, default=DEFAULT_TEST, help="patches in test.h5")


def run(args, feedback) -> int:
    paths = write_sample_data(
        args.output_folder, args.seed, args.train_size, args.test_size, feedback
    )
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
