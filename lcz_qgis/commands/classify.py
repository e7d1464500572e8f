"""``lcz classify`` / lcz:classifyraster: LCZ map from Sentinel-2 and/or Sentinel-1 rasters.

The CLI takes several inputs at once (one value per input for every per-raster
parameter: ``cli_multiple``); Processing takes one (its batch dialog runs several).
"""

from __future__ import annotations

from pathlib import Path

from ..classify.options import DEFAULT_STRIDE, ClassifyOptions
from ..classify.outputs import FORMATS
from ..classify.pipeline import classify
from ..classify.postfilter import FILTERS
from ..classify.sliding_window import WINDOW
from ..common.atomic import check_distinct_paths
from ..common.bands import BANDS_GRAMMAR, SEN2_BANDS
from ..common.enums import Filter, Format
from ..common.errors import LczError, param
from ..common.legend import N_CLASSES
from ..models.modelfile import load_model
from .choices import model_line
from .params import (
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
    CRS,
    ENUM,
    EXTENT,
    FILE_DEST,
    FLOAT,
    INT,
    RASTER,
    RASTER_DEST,
    STRING,
    VECTOR,
    Command,
    Param,
)

FILTER_LABELS = {
    Filter.NONE: "No filter",
    Filter.MAJORITY: "Majority of the 3 x 3 neighbouring cells",
    Filter.GAUSSIAN: "Gaussian smoothing of probabilities (as the LCZ Generator)",
}
FORMAT_LABELS = {
    Format.FLOAT: "Float 0-1 (nodata -1)",
    Format.BYTE: "Byte percent 0-100 (nodata 255)",
}
# BANDS and BANDS_S1: the one BANDS grammar, read as raster bands (classify.inputs)
BANDS_HELP = (
    f"The band mapping of the Sentinel-2 raster, {BANDS_GRAMMAR}. Numbers alone: the "
    f"raster bands of the So2Sat channels {','.join(SEN2_BANDS)} in that order (10 "
    "numbers, e.g. '2,3,4,5,6,7,8,9,12,13' for a 13-band stack) or of the model's "
    "channels; names alone: the raster's bands in that order (e.g. 'B2,B3,B4,B8'); "
    "NAME=NUMBER in any order (e.g. 'B4=3,B8=7'). Empty = the raster is in So2Sat order."
)
INPUTS = ("SENTINEL2", "SENTINEL1")
OUTPUTS = ("OUTPUT", "CONFIDENCE", "PROBABILITIES", "SECOND_CLASS", "MARGIN", "AREA_TABLE",
           "MAP_IMAGE")  # fmt: skip
RASTERS = ("OUTPUT", "CONFIDENCE", "PROBABILITIES", "SECOND_CLASS", "MARGIN")  # each: a .qml
# one value per run; RESOLUTION: 0 = use the stride; MODEL: loaded once
PER_RUN = (*INPUTS, *OUTPUTS, "RESOLUTION", "MODEL")


def _requests(values: dict) -> list[ClassifyOptions]:
    """One checked request per output, all before the first map is written: every
    input exists, and no output of any run is an input of any run or another output (a
    loop over cities must not overwrite the next city's imagery, or its own results)."""
    n = len(values["OUTPUT"])
    for key in INPUTS + OUTPUTS[1:]:
        if values[key] and len(values[key]) != n:
            raise LczError(
                f"{param(key)} has {len(values[key])} values but {param('OUTPUT')} has {n}"
            )
    shared = COMMAND.kwargs(values, *(p.key for p in COMMAND.params if p.key not in PER_RUN))
    requests = [
        ClassifyOptions(
            out, **{p.core_keyword: values[p.key][i] if values[p.key] else None
                    for p in map(COMMAND.param, INPUTS + OUTPUTS[1:])},
            resolution=values["RESOLUTION"] or None, **shared,
        ).check(values["MODEL"])
        for i, out in enumerate(values["OUTPUT"])
    ]  # fmt: skip
    if n > 1:  # across the runs too
        inputs = {k: values[k] for k in ("MODEL", "MASK", *INPUTS)}
        check_distinct_paths(inputs, {k: values[k] for k in OUTPUTS})
        check_distinct_paths({}, {k: values[k] for k in RASTERS}, sidecar=".qml")
    return requests


def _run(values: dict, feedback, given=None) -> dict:
    requests = _requests(values)
    if given is None:  # the first load imports scikit-learn or TensorFlow: seconds
        feedback.info(f"loading the model file {Path(values['MODEL']).name}")
    model = load_model(values["MODEL"], runtime=values["RUNTIME"])
    if given is None:  # the Processing log says which model ran; the CLI stays quiet
        feedback.info(model_line(model))
    n = len(requests)
    with legend_values(values):  # the maps' colours and class names (.qml, image)
        results = [
            classify(model, request, feedback.scaled(100 * i / n, 100 * (i + 1) / n))
            for i, request in enumerate(requests)
        ]
    outputs = {k: (v[0] if len(v) == 1 else v) if v else None
               for k, v in ((k, values[k]) for k in OUTPUTS)}  # fmt: skip
    outputs["_results"] = results
    return outputs


def _report(values: dict, outputs: dict) -> str:
    lines = []
    for res in outputs["_results"]:
        lines.append(
            f"{res.output}: {res.grid.cols} x {res.grid.rows} cells of "
            f"{abs(res.grid.geotransform[1]):g} m, {res.windows_valid} of {res.windows_total} "
            f"windows classified in {res.seconds:.1f} s"
        )
        lines += [
            f"  {key.lower()}: {path}" for key, path in res.outputs.items() if key != "OUTPUT"
        ]
    return "\n".join(lines)


def _enum(labels: dict, codes) -> tuple:
    return tuple((c, labels[c]) for c in codes)


COMMAND = Command(
    name="classify",
    algorithm="classifyraster",
    display_name="Classify raster into LCZ map",
    group="mapping",
    order=30,
    summary="classify rasters into an LCZ map with 32x32 sliding windows",
    help=(
        f"Runs a {WINDOW} x {WINDOW} sliding window over Sentinel-2 and/or Sentinel-1 rasters (10 m, "
        "projected CRS, So2Sat band order and scale: Sentinel-2 reflectance = DN / 10000) "
        "and writes an LCZ map. Use <i>Prepare Sentinel-2</i> / <i>Prepare Sentinel-1</i> "
        "(lcz prepare-s2 / prepare-s1) to make such rasters from products.<br>"
        "<b>Sentinel-1</b>: fusion models need both rasters; a Sentinel-1 raster on another "
        "grid is resampled onto the Sentinel-2 grid on the fly (bilinear, no copy).<br>"
        "<b>Band mapping</b>: which raster band feeds each So2Sat "
        "channel: numbers in So2Sat order ('2,3,4,5,6,7,8,9,12,13' for a 13-band stack), "
        "names in the raster's order ('B2,B3,B4,B8') or NAME=NUMBER ('B4=3,B8=7'); "
        "empty = the raster is in So2Sat order.<br>"
        "<b>Scale</b>: auto detects DN (values in the thousands) from a sample of pixels, "
        "warns with the range found and divides by 10000; dn always divides by 10000.<br>"
        "<b>Stride</b> is the window step in input pixels and sets the output pixel size "
        "(default 10 = 100 m); <b>Resolution</b> (metres, a multiple of the pixel size) "
        "overrides it. Each output cell's centre is the centre of the window it was "
        "predicted from. Cells whose window leaves the raster, holds nodata/NaN, or lies "
        "outside the mask polygons / extent are 0.<br>"
        "<b>Filter</b>: majority = 3 x 3 majority; gaussian = the LCZ Generator's filter "
        "(Demuzere et al. 2020): each class's probability layer smoothed with a class-specific "
        "Gaussian kernel (sigma 25-250 m), then the most likely class.<br>"
        f"<b>Outputs</b>: the map (byte 1-{N_CLASSES}, nodata 0, colour table, .qml); optional "
        f"confidence (max probability, float 0-1 or byte percent), {N_CLASSES}-band "
        "probabilities, the "
        "second class (the most probable class other than the map's, styled like the map; "
        "ties go to the lower code, as for the map), the margin (highest minus second highest "
        "probability, in the confidence format; with the Gaussian filter both come from the "
        "filtered probabilities), an area table (CSV: code, name, cells, km², % of the "
        "classified area) and a map image (PNG with legend, scale bar and north arrow).<br>"
        "<b>Reproject / Resample</b>: warp a geographic raster to its UTM zone at 10 m, or a "
        "raster of another pixel size to 10 m, on the fly.<br>"
        "<b>Model</b>: a .lczmodel file, or a plain Keras .keras/.h5 model.<br>"
        "In the CLI, several inputs at once: give as many --output values as inputs; every "
        "other per-raster option (--sentinel2, --sentinel1, --confidence, --probabilities, "
        "--second-class, --margin, --area-table, --map-image) then takes one value per input "
        "too. In Processing, use the batch dialog. Several dates of one place fused into one "
        "map: Classify dates (lcz classify-dates)."
    ),
    params=[
        model_param(keyword=""),
        Param("SENTINEL2", RASTER, "Sentinel-2 raster (So2Sat band order)",
              "The Sentinel-2 raster, in So2Sat band order (one per output in the CLI).",
              optional=True, cli_multiple=True),
        Param("SENTINEL1", RASTER, "Sentinel-1 raster (resampled onto the Sentinel-2 grid)",
              "The Sentinel-1 raster; resampled onto the Sentinel-2 grid if not aligned.",
              optional=True, cli_multiple=True),
        Param("BANDS", STRING, "Sentinel-2 band mapping (band numbers or NAME=NUMBER)",
              BANDS_HELP, default="", optional=True, advanced=True),
        Param("BANDS_S1", STRING, "Sentinel-1 band mapping (band numbers or NAME=NUMBER)",
              "The Sentinel-1 band mapping, like the Sentinel-2 one (names: the 8 So2Sat "
              "channels, VH and VV for the intensities, e.g. 'VH=1,VV=2').", default="",
              optional=True, advanced=True),
        scale_param(),
        offset_param(),
        Param("STRIDE", INT, "Stride (input pixels; output pixel size)",
              "The window step in input pixels, which is the output pixel size (10: 100 m).",
              default=DEFAULT_STRIDE, minimum=1, maximum=WINDOW, advanced=True),
        Param("RESOLUTION", FLOAT, "Output resolution in metres (0 = use the stride)",
              "The output pixel size in metres, a multiple of the input pixel size; it "
              "overrides the stride (0 = use the stride).", default=0.0, minimum=0.0,
              optional=True),
        batch_param("Batch size (windows per prediction)",
                    "Windows per model call; lower it if memory is short."),
        runtime_param(keyword=""),
        Param("MASK", VECTOR, "Mask polygons (cells outside are 0)",
              "Polygons: the cells outside them are 0.", optional=True),
        Param("EXTENT", EXTENT, "Extent (cells outside are 0)",
              "The extent xmin,ymin,xmax,ymax (in the extent CRS, by default the raster's): "
              "the cells outside it are 0.", optional=True),
        Param("EXTENT_CRS", CRS, "Extent CRS",
              "The CRS of the extent, e.g. EPSG:4326 (default: the raster's CRS).",
              optional=True, default="", advanced=True,
              front_end_only=(CLI, "in Processing the extent carries its CRS")),
        Param("FILTER", ENUM, "Post-classification filter", "The post-classification filter.",
              choices=_enum(FILTER_LABELS, FILTERS), default=Filter.NONE.value),
        Param("REPROJECT", BOOL, "Reproject geographic input to UTM (10 m) on the fly",
              "Warp geographic input to its UTM zone at 10 m, on the fly.", default=False,
              advanced=True),
        Param("RESAMPLE", BOOL, "Resample input to 10 m on the fly",
              "Resample input of another pixel size to 10 m, on the fly.", default=False,
              advanced=True),
        Param("CONFIDENCE_FORMAT", ENUM, "Confidence format",
              "The confidence raster's format: float 0-1 (nodata -1) or byte percent 0-100 "
              "(nodata 255).", choices=_enum(FORMAT_LABELS, FORMATS), default=Format.FLOAT.value,
              advanced=True),
        Param("PROBABILITIES_FORMAT", ENUM, "Probabilities format",
              "The probability raster's format, as for the confidence.",
              choices=_enum(FORMAT_LABELS, FORMATS), default=Format.FLOAT.value, advanced=True),
        palette_param(advanced=True),
        language_param(),
        Param("OUTPUT", RASTER_DEST, "LCZ map", "The LCZ map GeoTIFF (one per input in the CLI).",
              keyword="", cli_multiple=True),
        Param("CONFIDENCE", RASTER_DEST, "Confidence (max probability)",
              "The confidence GeoTIFF (the winning class's probability).", optional=True,
              create_by_default=False, cli_multiple=True),
        Param("PROBABILITIES", RASTER_DEST, f"Class probabilities ({N_CLASSES} bands)",
              f"The {N_CLASSES}-band class probability GeoTIFF.", optional=True,
              create_by_default=False, cli_multiple=True, advanced=True),
        Param("SECOND_CLASS", RASTER_DEST, "Second class (runner-up LCZ)",
              "The runner-up LCZ GeoTIFF: the most probable class other than the map's "
              f"(1-{N_CLASSES}, nodata 0, styled like the map).", optional=True,
              create_by_default=False, cli_multiple=True, advanced=True),
        Param("MARGIN", RASTER_DEST, "Margin (top-1 minus top-2 probability)",
              "The margin GeoTIFF: the highest minus the second highest class probability, "
              "in the confidence format.", optional=True, create_by_default=False,
              cli_multiple=True, advanced=True),
        Param("AREA_TABLE", FILE_DEST, "Area per LCZ class",
              "The area per class, as CSV.", optional=True, create_by_default=False,
              cli_multiple=True, file_filter="CSV files (*.csv)"),
        Param("MAP_IMAGE", FILE_DEST, "Map image",
              "The map as a PNG with legend, scale bar and north arrow.", optional=True,
              create_by_default=False, cli_multiple=True, file_filter="PNG images (*.png)"),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
