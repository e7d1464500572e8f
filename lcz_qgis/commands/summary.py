"""``lcz summary`` / lcz:datasetsummary: patches per class, shapes and band statistics."""

from __future__ import annotations

from ..so2sat.summary import DEFAULT_SAMPLE, dataset_summary
from .choices import HDF5_FILTER
from .params import seed_param
from .spec import FILE, FILE_DEST, INT, OUT_NUMBER, Command, Output, Param

SEED = seed_param("The seed of the random sample.")


def _run(values: dict, feedback, given=None) -> dict:
    s = dataset_summary(
        values["INPUT"], **COMMAND.kwargs(values, "OUTPUT_HTML", "OUTPUT_PNG", "SAMPLE_SIZE",
                                          "SEED"), feedback=feedback
    )  # fmt: skip
    return {
        "OUTPUT_HTML": values["OUTPUT_HTML"],
        "OUTPUT_PNG": values["OUTPUT_PNG"],
        "N_PATCHES": s.n,
        "_summary": s,
    }


def _report(values: dict, outputs: dict) -> str:
    lines = [outputs["_summary"].text()]
    for label, key in (("html", "OUTPUT_HTML"), ("png", "OUTPUT_PNG")):
        if outputs.get(key):
            lines.append(f"{label}: {outputs[key]}")
    return "\n".join(lines)


COMMAND = Command(
    name="summary",
    algorithm="datasetsummary",
    display_name="So2Sat dataset summary",
    group="data",
    order=12,
    summary="summarise a So2Sat HDF5 file: patches per class, shapes, band statistics",
    help=(
        "Summarises a So2Sat LCZ42 HDF5 file (training.h5, validation.h5, testing.h5 or one "
        "written by this plugin): the number of patches per LCZ class (code, name, count, %), "
        "the shapes of the sen1 / sen2 / label datasets, and the value range, mean, standard "
        "deviation and 2nd-98th percentiles of every band over a seeded random sample of "
        "patches.<br>"
        "Only the labels and the sample are read, never the images in full, so even the 52 GB "
        "training.h5 takes seconds.<br>"
        "<b>Report</b>: an HTML page (shown in the Processing results viewer) with the tables "
        "and a histogram of the classes in LCZ colours; <b>Histogram</b>: the same chart as a "
        "PNG (optional). The histogram needs matplotlib."
    ),
    params=[
        Param("INPUT", FILE, "So2Sat HDF5 file", "The So2Sat LCZ42 HDF5 file to summarise.",
              keyword="path", file_filter=HDF5_FILTER),
        Param("SAMPLE_SIZE", INT, "Patches sampled for the band statistics",
              "Patches drawn at random (seeded) for the band statistics; 0 = none.",
              default=DEFAULT_SAMPLE, minimum=0),
        SEED,
        Param("OUTPUT_HTML", FILE_DEST, "Report",
              "The HTML report to write: the tables and the class histogram.",
              optional=True, file_filter="HTML files (*.html)"),
        Param("OUTPUT_PNG", FILE_DEST, "Class histogram",
              "The class histogram to write as a PNG, in LCZ colours.",
              optional=True, create_by_default=False, file_filter="PNG files (*.png)"),
    ],
    outputs=[Output("N_PATCHES", OUT_NUMBER, "Number of patches")],
    run=_run,
    report=_report,
)  # fmt: skip
