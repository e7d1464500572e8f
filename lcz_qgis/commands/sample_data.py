"""``lcz sample-data`` / lcz:sampledata: the synthetic sample data."""

from __future__ import annotations

from ..sample_data import (
    DEFAULT_TEST,
    DEFAULT_TRAIN,
    MAX_PATCHES,
    MIN_PATCHES,
    MIN_PER_CLASS,
    write_sample_data,
)
from .params import seed_param
from .spec import FOLDER_DEST, INT, OUT_FILE, OUT_RASTER, Command, Output, Param

_LEAST = f"at least {MIN_PATCHES}: {MIN_PER_CLASS} per class"
# output key -> file written
FILES = {"TRAIN": "train.h5", "TEST": "test.h5", "SCENE_S2": "scene_s2.tif",
         "SCENE_S1": "scene_s1.tif", "SCENE_TRUTH": "scene_truth.tif"}  # fmt: skip


def _run(values: dict, feedback, given=None) -> dict:
    paths = write_sample_data(
        values["OUTPUT_FOLDER"],
        seed=values["SEED"],
        n_train=values["TRAIN_SIZE"],
        n_test=values["TEST_SIZE"],
        feedback=feedback,
    )
    out = {"OUTPUT_FOLDER": values["OUTPUT_FOLDER"]}
    out |= {key: str(paths[name]) for key, name in FILES.items()}
    out["_paths"] = paths
    return out


def _report(values: dict, outputs: dict) -> str:
    return "\n".join(f"{name}: {path}" for name, path in outputs["_paths"].items())


COMMAND = Command(
    name="sample-data",
    algorithm="sampledata",
    display_name="Write sample data (synthetic)",
    group="data",
    order=10,
    summary="write the SYNTHETIC sample data: train.h5, test.h5 and a sample city",
    help=(
        "Writes SYNTHETIC sample data, deterministically from a seed, into a folder (made if "
        "its parent exists): train.h5 and test.h5 in So2Sat LCZ42 format (float64 sen1, sen2, "
        "one-hot label; all 17 classes, imbalanced like So2Sat), and a synthetic 5 x 5 km "
        "sample city (scene_s2.tif with the 10 So2Sat Sentinel-2 bands, scene_s1.tif with the "
        "8 Sentinel-1 channels, scene_truth.tif with the LCZ zones it was built from; 10 m, "
        "EPSG:32632). None of it is real imagery."
    ),
    params=[
        Param("OUTPUT_FOLDER", FOLDER_DEST, "Output folder",
              "The folder to write into; it is made if its parent exists."),
        seed_param("The seed everything is generated from.", default=42),
        Param("TRAIN_SIZE", INT, "Training patches",
              f"Patches in train.h5 (default {DEFAULT_TRAIN}; {_LEAST}).",
              default=DEFAULT_TRAIN, minimum=MIN_PATCHES, maximum=MAX_PATCHES),
        Param("TEST_SIZE", INT, "Test patches",
              f"Patches in test.h5 (default {DEFAULT_TEST}; {_LEAST}).",
              default=DEFAULT_TEST, minimum=MIN_PATCHES, maximum=MAX_PATCHES),
    ],
    outputs=[
        Output("TRAIN", OUT_FILE, "Training HDF5"),
        Output("TEST", OUT_FILE, "Test HDF5"),
        Output("SCENE_S2", OUT_RASTER, "Sample city Sentinel-2 (synthetic)"),
        Output("SCENE_S1", OUT_RASTER, "Sample city Sentinel-1 (synthetic)"),
        Output("SCENE_TRUTH", OUT_RASTER, "Sample city LCZ truth (synthetic)"),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
