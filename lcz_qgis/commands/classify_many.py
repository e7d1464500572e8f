"""``lcz classify-many`` / lcz:classifymany: many rasters or tiles on Dask distributed.

One task per raster (or per tile), each a ``classify_raster`` call with a success record;
a re-run resumes. Processing runs a local cluster only; the CLI also connects to a
running scheduler. Dask is imported when the run starts, never when this module loads.
"""

from __future__ import annotations

from ..classify.options import DEFAULT_STRIDE
from ..classify.postfilter import FILTERS
from ..classify.sliding_window import WINDOW
from ..common.enums import Filter
from .classify import BANDS_HELP, FILTER_LABELS, _enum
from .params import (
    PALETTE_HELP,
    batch_param,
    language_param,
    legend_values,
    model_param,
    offset_param,
    palette_param,
    runtime_param,
    scale_param,
)
from .spec import (
    BOOL,
    CLI,
    ENUM,
    FILE,
    FOLDER_DEST,
    INT,
    OUT_FILE,
    OUT_NUMBER,
    OUT_RASTER,
    STRING,
    Command,
    Output,
    Param,
)


def _run(values: dict, feedback, given=None) -> dict:
    from ..cluster.run import ManyOptions, classify_many

    options = ManyOptions(
        stride=values["STRIDE"], batch_size=values["BATCH_SIZE"], scale=values["SCALE"],
        filter=values["FILTER"], bands=values["BANDS"], bands_s1=values["BANDS_S1"],
        tile_size=values["TILE_SIZE"], scheduler=values["SCHEDULER"] or "local",
        workers=values["WORKERS"], threads=values["THREADS"], retries=values["RETRIES"],
        cog=bool(values["COG"]), dashboard=bool(values.get("DASHBOARD")),
        runtime=values["RUNTIME"], offset=values["OFFSET"] or 0.0,
    )  # fmt: skip
    with legend_values(values):  # the mosaic's colours and class names (its .qml)
        report = classify_many(values["INPUTS"], values["MODEL"], values["OUTPUT_FOLDER"],
                               options, feedback)  # fmt: skip
    folder = report.folder
    out = {"OUTPUT_FOLDER": str(folder), "_report": report}
    for key in ("MOSAIC", "COG", "AREA_TABLE", "REPORT"):
        out[key] = str(folder / report.outputs[key]) if key in report.outputs else None
    out["FAILED"] = report.count("failed")
    # rasters in several CRSs: one mosaic per CRS (MOSAIC_EPSG_32632, ...), none called MOSAIC
    out["_mosaics"] = {
        key[len("MOSAIC_") :]: str(folder / name)
        for key, name in report.outputs.items()
        if key.startswith("MOSAIC_")
    }
    return out


def _report(values: dict, outputs: dict) -> str:
    return outputs["_report"].summary()


COMMAND = Command(
    name="classify-many",
    algorithm="classifymany",
    display_name="Classify many rasters (Dask, resumable)",
    group="mapping",
    order=34,
    summary="classify many rasters or tiles on Dask distributed (local or a cluster), resumable",
    help=(
        "Classifies every raster of a list, a folder or a tile index with one model, one "
        "task per raster (or per tile), run by Dask distributed: a local cluster of worker "
        "processes, or (in the CLI, --scheduler tcp://host:8786) a running Dask cluster "
        "(Slurm through dask-jobqueue, Kubernetes...; see docs/cluster.md).<br>"
        "<b>Inputs</b>: a text file with one raster per line (S2,S1 for a fusion model), a "
        "folder (its .tif, .tiff and .vrt files) or a tile index (a vector file with a "
        "'location' field naming each tile's raster, as gdaltindex writes it; a tile is the "
        "raster's cells inside the feature's bounding box).<br>"
        "<b>Tile size</b> cuts each raster into tiles of that many output cells a side; "
        "each tile reads the halo that its windows and the filter need, so the mosaic is the "
        "map of the whole raster, cell for cell.<br>"
        "<b>Outputs</b> in the output folder: tiles/NAME.tif (each written to a temporary "
        "and renamed), done/NAME.json (the success record), mosaic.vrt (one per CRS), "
        "optionally a COG of it, area_table.csv (summed from the tiles' cell counts) and "
        "run_report.json (tasks, times, retries, failures).<br>"
        "<b>Resume</b>: a re-run skips the tasks whose record matches the model and "
        "settings, and redoes the others. A task that fails is retried (a lost worker's "
        "task is rescheduled); one that fails every retry is reported by name and the others "
        "finish. A second run into the same output folder is refused while the first runs.<br>"
        "<b>Inference engine</b> (advanced): auto, onnx or tensorflow, as in Classify "
        "raster; chosen once before the run, so every worker runs the same engine."
    ),
    params=[
        Param("INPUTS", FILE, "Inputs (list file, folder or tile index)",
              "The rasters: a text file listing them, a folder of them, or a tile index "
              "(vector file with a 'location' field).", keyword="", cli_multiple=True,
              file_filter="Raster lists and tile indexes (*.txt *.csv *.gpkg *.shp *.geojson "
              "*.tif *.vrt);;All files (*)"),
        model_param(keyword=""),
        Param("SCHEDULER", STRING, "Dask scheduler",
              "Where the tasks run: 'local' starts a local cluster (on 127.0.0.1 only); an "
              "address such as tcp://host:8786 connects to a running Dask scheduler, which "
              "runs whatever code its clients send: connect only to one you trust "
              "(docs/cluster.md).", default="local",
              front_end_only=(CLI, "Processing runs a local cluster")),
        Param("DASHBOARD", BOOL, "Serve Dask's dashboard on this machine",
              "Serve Dask's dashboard (task progress, workers) on 127.0.0.1 at a free port, "
              "printed when the run starts; off by default. A local cluster listens on "
              "127.0.0.1 only.", default=False, advanced=True,
              front_end_only=(CLI, "Processing runs without a dashboard")),
        Param("WORKERS", INT, "Worker processes (local cluster)",
              "The worker processes of the local cluster, one task at a time each.",
              default=2, minimum=1),
        Param("THREADS", INT, "Threads per task (TensorFlow, OpenMP, scikit-learn)",
              "The threads each task's model may use.", default=1, minimum=1, advanced=True),
        Param("TILE_SIZE", INT, "Tile size (output cells a side; 0 = one task per raster)",
              "Cut each raster into tiles of this many output cells a side (0: one task per "
              "raster or tile).", default=0, minimum=0),
        Param("STRIDE", INT, "Stride (input pixels; output pixel size)",
              "The window step in input pixels, which is the output pixel size (10: 100 m).",
              default=DEFAULT_STRIDE, minimum=1, maximum=WINDOW),
        batch_param("Batch size (windows per prediction)",
                    "Windows per model call (fixed, for identical results)."),
        runtime_param(keyword=""),
        scale_param(),
        offset_param(),
        Param("FILTER", ENUM, "Post-classification filter", "The post-classification filter.",
              choices=_enum(FILTER_LABELS, FILTERS), default=Filter.NONE.value),
        Param("BANDS", STRING, "Sentinel-2 band mapping (band numbers or NAME=NUMBER)",
              BANDS_HELP, default="", optional=True, advanced=True),
        Param("BANDS_S1", STRING, "Sentinel-1 band mapping (band numbers or NAME=NUMBER)",
              "The Sentinel-1 band mapping, like the Sentinel-2 one (names: the 8 So2Sat "
              "channels, VH and VV for the intensities).", default="", optional=True,
              advanced=True),
        Param("RETRIES", INT, "Retries of a failed task",
              "How many times a task that fails is tried again.", default=2, minimum=0,
              advanced=True),
        palette_param(advanced=True, help=PALETTE_HELP + " The tiles' and the mosaic's colours and style (.qml)."),
        language_param(),
        Param("COG", BOOL, "Also write a Cloud Optimized GeoTIFF of the mosaic",
              "Write mosaic.tif, a COG of the mosaic, beside mosaic.vrt.", default=False),
        Param("OUTPUT_FOLDER", FOLDER_DEST, "Output folder",
              "The folder of the tiles, records, mosaic, area table and run report.",
              keyword=""),
    ],
    outputs=[
        Output("MOSAIC", OUT_RASTER, "Mosaic (VRT)"),
        Output("COG", OUT_RASTER, "Mosaic (COG)"),
        Output("AREA_TABLE", OUT_FILE, "Area per LCZ class"),
        Output("REPORT", OUT_FILE, "Run report (JSON)"),
        Output("FAILED", OUT_NUMBER, "Failed tasks"),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
