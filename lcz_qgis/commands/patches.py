"""``lcz patches`` / lcz:loadpatches: So2Sat patches as georeferenced GeoTIFFs and outlines."""

from __future__ import annotations

from ..common.errors import LczError
from ..common.legend import N_CLASSES
from ..patches.load import load_patches
from ..patches.selection import MAX_PATCHES
from .choices import HDF5_FILTER, SENSORS
from .params import seed_param, sensor_param
from .spec import (
    BOOL,
    FILE,
    FOLDER_DEST,
    INT,
    OUT_LAYERS,
    OUT_NUMBER,
    STRING,
    VECTOR_DEST,
    Command,
    Output,
    Param,
)

LISTED = 20  # the CLI report lists at most this many files


def _run(values: dict, feedback, given=None) -> dict:
    outlines = values["OUTPUT_PATCHES"]
    if outlines and not str(outlines).lower().endswith(".gpkg"):
        raise LczError(
            f"Patch outlines are written as a GeoPackage: choose a .gpkg file, not '{outlines}'"
        )
    r = load_patches(
        values["INPUT"], values["OUTPUT_FOLDER"], **COMMAND.kwargs(values, "GEO", "SENSOR",
        "INDICES", "PER_CLASS", "SEED", "OUTPUT_PATCHES", "PER_PATCH_FILES"), feedback=feedback,
    )  # fmt: skip
    return {
        "OUTPUT_FOLDER": values["OUTPUT_FOLDER"],
        "OUTPUT_PATCHES": outlines,
        "RASTERS": [str(p) for p in r.rasters],
        "N_PATCHES": r.n_placed,
        "N_SKIPPED": len(r.skipped),
        "_result": r,
    }


def _report(values: dict, outputs: dict) -> str:
    r = outputs["_result"]
    crs = ", ".join(f"EPSG:{e}" for e in r.crs)
    lines = [
        f"{r.n_placed} patches in {len(r.rasters)} GeoTIFF(s) ({r.layout} layout; {crs}); "
        f"{len(r.skipped)} skipped; {r.bytes_read / 1e6:.1f} MB read of "
        f"{r.file_size / 1e6:.1f} MB in {r.seconds:.1f} s"
    ]
    if len(r.rasters) <= LISTED:
        lines += [str(p) for p in r.rasters]
    else:
        lines.append(f"{values['OUTPUT_FOLDER']} ({len(r.rasters)} files)")
    if r.patches_layer:
        lines.append(str(r.patches_layer))
    return "\n".join(lines)


COMMAND = Command(
    name="patches",
    algorithm="loadpatches",
    display_name="Load So2Sat patches as layers",
    group="data",
    order=14,
    summary="write So2Sat patches as georeferenced GeoTIFFs (true place with a *_geo.h5, else "
    "a grid)",
    help=(
        "Writes So2Sat LCZ42 patches (32 x 32 pixels, 10 m) as georeferenced GeoTIFFs, so "
        "they can be viewed, measured and compared with a basemap, plus a GeoPackage of patch "
        "outlines coloured by LCZ class and labelled '#index LCZ x'.<br>"
        "<b>Selection</b>: <i>Patch indices</i> (0-based, ranges inclusive: '0-9,15,20-25'), "
        "or <i>Patches per class</i> N (N random patches of every LCZ class, reproducible with "
        "the seed; a class with fewer patches gives all it has, with a warning), or every "
        f"patch when both are empty; at most {MAX_PATCHES} patches per run.<br>"
        "<b>Geolocation file</b> (optional): the matching So2Sat *_geo.h5 (2025 layout with "
        "coord/epsg/tfw or 2026 layout with epsg/tfw/city; same number of rows as the image "
        "file). Each patch then lands at its true place in its UTM zone: one GeoTIFF mosaic "
        "per UTM zone and city (nodata between patches), or one file per patch. Rows with an "
        "impossible transform (not 10 m, outside the zone) are skipped and reported.<br>"
        "Without it, the patches are laid out on a grid with 80 m gaps in EPSG:3857 near "
        "0 N 0 E ('Null Island', where map units are true metres); with Patches per class "
        "each grid row is one class. These positions are NOT real places.<br>"
        "<b>Outlines</b>: one polygon per patch (patch_index, lcz, lcz_letter, lcz_name, city, "
        "epsg, ul_x, ul_y, raster). When the patches span several UTM zones the layer is in "
        "EPSG:4326 with densified, exact outlines; ul_x/ul_y/epsg keep the exact corner.<br>"
        "Only the selected patches are read, so this is fast even on the 52 GB training.h5."
    ),
    params=[
        Param("INPUT", FILE, "So2Sat HDF5 file", "The So2Sat LCZ42 HDF5 file.",
              keyword="", file_filter=HDF5_FILTER),
        Param("GEO", FILE, "Geolocation file (*_geo.h5)",
              "Its So2Sat geolocation file (*_geo.h5, 2025 or 2026 layout): the patches then "
              "land at their true place.", optional=True, file_filter=HDF5_FILTER),
        sensor_param(help="The images to write.", choices=SENSORS[:2]),
        Param("INDICES", STRING, "Patch indices (e.g. 0-9,15,20-25)",
              "The 0-based patch indices and ranges to write, e.g. '0-9,15,20-25'.",
              default="", optional=True),
        Param("PER_CLASS", INT, "Patches per class (0 = off)",
              "Write N random patches of each LCZ class (seeded); 0 = off.", default=0,
              minimum=0, maximum=MAX_PATCHES // N_CLASSES),
        seed_param("The seed of the per-class selection."),
        Param("PER_PATCH_FILES", BOOL, "One GeoTIFF per patch (instead of mosaics)",
              "Write one GeoTIFF per patch instead of mosaics.", default=False),
        Param("OUTPUT_FOLDER", FOLDER_DEST, "Output folder", "The folder for the GeoTIFFs.",
              keyword=""),
        Param("OUTPUT_PATCHES", VECTOR_DEST, "Patch outlines (GeoPackage)",
              "The GeoPackage (.gpkg) of patch outlines to write, styled by LCZ.",
              optional=True),
    ],
    outputs=[
        Output("RASTERS", OUT_LAYERS, "Patch rasters"),
        Output("N_PATCHES", OUT_NUMBER, "Patches written"),
        Output("N_SKIPPED", OUT_NUMBER, "Patches skipped (bad geolocation)"),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
