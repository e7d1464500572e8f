"""``lcz classify-dates`` / lcz:classifydates: one LCZ map from several Sentinel-2 dates.

The dates of one place are classified onto the first date's grid and their class
probabilities fused by the mean over the dates valid at each cell
(``classify.multidate``). The options shared with ``classify`` are its declarations,
with the help saying how they apply to several dates; the CLI takes one run per call
(``--dates`` takes the other dates, so ``classify``'s several-cities grammar does not
apply here).
"""

from __future__ import annotations

from dataclasses import replace

from ..classify.multidate import classify_fused
from ..classify.options import ClassifyOptions
from ..classify.sliding_window import WINDOW
from ..models.modelfile import load_model
from .choices import model_line
from .classify import COMMAND as CLASSIFY
from .params import legend_values
from .spec import MULTI_RASTER, RASTER, RASTER_DEST, Command, Param

# classify's parameters used here as they are (one value each)
SHARED = ("MODEL", "BANDS", "SCALE", "OFFSET", "STRIDE", "RESOLUTION", "BATCH_SIZE", "MASK",
          "EXTENT", "EXTENT_CRS", "FILTER")  # fmt: skip
OUTPUTS = ("OUTPUT", "CONFIDENCE", "PROBABILITIES", "SECOND_CLASS", "MARGIN", "AGREEMENT",
           "DATE_COUNT", "AREA_TABLE", "MAP_IMAGE")  # fmt: skip


def _shared(key: str, **changes) -> Param:
    """classify's declaration of ``key``, one value per run (and ``changes``)."""
    return replace(CLASSIFY.param(key), cli_multiple=False, **changes)


def _run(values: dict, feedback, given=None) -> dict:
    # every parameter but MODEL and OUTPUT is a keyword of the request (DATES: a list)
    request = ClassifyOptions(values["OUTPUT"], **COMMAND.kwargs(values))
    request = request.check(values["MODEL"])  # before the model is loaded
    model = load_model(values["MODEL"], runtime=values["RUNTIME"])
    if given is None:  # the Processing log says which model ran
        feedback.info(model_line(model))
    with legend_values(values):  # the map's colours and class names (.qml, image)
        result = classify_fused(model, request, feedback)
    outputs = {k: values[k] for k in OUTPUTS}
    outputs["_results"] = [result]
    return outputs


def _report(values: dict, outputs: dict) -> str:
    res = outputs["_results"][0]
    per_date = ", ".join(str(n) for n in res.date_windows_valid)
    lines = [
        f"{res.output}: {res.grid.cols} x {res.grid.rows} cells of "
        f"{abs(res.grid.geotransform[1]):g} m from {len(res.date_windows_valid)} dates, "
        f"{res.windows_valid} of {res.windows_total} cells classified (valid windows per "
        f"date: {per_date}) in {res.seconds:.1f} s"
    ]
    lines += [f"  {key.lower()}: {path}" for key, path in res.outputs.items() if key != "OUTPUT"]
    return "\n".join(lines)


COMMAND = Command(
    name="classify-dates",
    algorithm="classifydates",
    display_name="Classify dates into one LCZ map (probability fusion)",
    group="mapping",
    order=31,
    summary="classify several Sentinel-2 dates of one place and fuse their probabilities",
    help=(
        "Classifies several Sentinel-2 dates of the same place with one model, as Classify "
        "raster into LCZ map does for one, and fuses them: at each output cell the class "
        f"probabilities are the mean over the dates whose {WINDOW} x {WINDOW} window there "
        "is valid (free "
        "of nodata, so clouds masked as nodata in one date are filled by the other dates), "
        "and the map takes the most probable class. A cell valid in no date is 0. A date "
        "valid in no window (e.g. all cloud) contributes nothing: a warning names it.<br>"
        "<b>Dates</b>: the first date (Sentinel-2 raster) sets the output grid; every other "
        "date on another grid is warped onto it on the fly (bilinear, noted in the log). "
        "Every date must hold the same bands in the same order (the band mapping applies to "
        "all); the scale is detected per date. Sentinel-2 models only.<br>"
        "<b>Outputs</b>: as Classify raster (map, confidence, probabilities, second class, "
        "margin, area table, map image), all from the fused probabilities, plus the "
        "agreement (share of the dates seen whose own most probable class is the map's "
        "class, in the confidence format) and the date count (byte: dates with a valid "
        "window at the cell, 0 where none). With a post-filter, the map, second class and "
        "agreement follow the filtered classes.<br>"
        "Time: about the sum of the dates' single-date runs; memory: one block of "
        "probabilities per date."
    ),
    params=[
        _shared("MODEL"),
        Param("SENTINEL2", RASTER, "First date: Sentinel-2 raster (sets the grid)",
              "The first date's Sentinel-2 raster, in So2Sat band order; the output grid is "
              "its grid."),
        Param("DATES", MULTI_RASTER, "Other dates: Sentinel-2 rasters of the same place",
              "The other dates' Sentinel-2 rasters, with the first date's bands; warped onto "
              "its grid when on another one.", optional=True),
        *(_shared(k) for k in SHARED[1:]),
        _shared("REPROJECT", help="Warp a geographic first date to its UTM zone at 10 m, "
                "on the fly (the other dates follow its grid)."),
        _shared("RESAMPLE"),
        _shared("RUNTIME"),
        _shared("CONFIDENCE_FORMAT", help="The format of the confidence, margin and "
                "agreement rasters: float 0-1 (nodata -1) or byte percent 0-100 (nodata 255)."),
        _shared("PROBABILITIES_FORMAT"),
        _shared("PALETTE"),
        _shared("LANGUAGE"),
        _shared("OUTPUT", help="The fused LCZ map GeoTIFF."),
        *(_shared(k) for k in ("CONFIDENCE", "PROBABILITIES", "SECOND_CLASS", "MARGIN")),
        Param("AGREEMENT", RASTER_DEST, "Agreement between dates",
              "The agreement GeoTIFF: the share of the dates seen at the cell whose own most "
              "probable class is the map's class, in the confidence format.",
              optional=True, create_by_default=False),
        Param("DATE_COUNT", RASTER_DEST, "Dates seen per cell",
              "The date count GeoTIFF (byte): the dates with a valid window at the cell.",
              optional=True, create_by_default=False),
        _shared("AREA_TABLE"),
        _shared("MAP_IMAGE"),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
