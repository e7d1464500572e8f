"""``lcz training-patches`` / lcz:trainingareapatches: training-area polygons -> So2Sat
patches (and the suspicious training areas)."""

from __future__ import annotations

from ..training_areas.patches import training_area_patches
from .choices import HDF5_FILTER
from .params import offset_param, scale_param
from .spec import (
    FIELD,
    FILE_DEST,
    OUT_FILE,
    OUT_NUMBER,
    RASTER,
    VECTOR,
    VECTOR_DEST,
    Command,
    Output,
    Param,
)


def _run(values: dict, feedback, given=None) -> dict:
    r = training_area_patches(
        values["AREAS"], values["SENTINEL2"], values["OUTPUT"],
        **COMMAND.kwargs(values, "SENTINEL1", "FIELD", "SCALE", "OFFSET", "SUSPICIOUS"),
        feedback=feedback,
    )  # fmt: skip
    return {
        "OUTPUT": str(r.output),
        "SUSPICIOUS": str(r.suspicious) if r.suspicious else None,
        "GEO": str(r.geo),
        "N_PATCHES": r.n_patches,
        "N_AREAS": r.n_areas,
        "N_SUSPICIOUS": len({s.polygon_id for s in r.suspects}),
        "N_SKIPPED": r.n_nodata + r.n_outside,
        "_result": r,
    }


def _report(values: dict, outputs: dict) -> str:
    from ..common.legend import lcz_class

    r = outputs["_result"]
    classes = ", ".join(
        f"{lcz_class(c + 1).letter}: {n}" for c, n in enumerate(r.per_class.tolist()) if n
    )
    lines = [
        f"{r.n_patches} patches from {r.n_areas} training areas ({classes}) in {r.seconds:.1f} s",
        f"skipped windows: {r.n_outside} leaving the raster, {r.n_nodata} on nodata; grid "
        f"points left out for overlapping classes: {r.points.conflicts}",
        f"{outputs['N_SUSPICIOUS']} suspicious training area(s)",
        str(r.output),
        str(r.geo),
    ]
    if r.suspicious:
        lines.append(str(r.suspicious))
    return "\n".join(lines)


COMMAND = Command(
    name="training-patches",
    algorithm="trainingareapatches",
    display_name="So2Sat patches from training areas",
    group="data",
    order=13,
    summary="training-area polygons (WUDAPT / LCZ Generator) -> So2Sat-format patches, with "
    "quality checks",
    help=(
        "Turns training areas (polygons of known LCZ, as digitised for WUDAPT and the LCZ "
        "Generator) into a So2Sat LCZ42-format HDF5 file that Train, Evaluate and the dataset "
        "summary take as they are.<br>"
        "<b>Training areas</b>: any polygons (a GeoPackage, shapefile or GeoJSON file; in "
        "QGIS also a layer of the project, a scratch layer or only their selected features; "
        "any CRS) "
        "with an LCZ field (1-17, 101-107 or A-G; chosen, or found by name: lcz, class, "
        "code, ...), or the WUDAPT template KML/KMZ file with one folder per class (1-10, "
        "A-G). Multi-part and 3-D polygons are accepted.<br>"
        "<b>Sampling</b>: one 32 x 32 window (320 m) centred on every point of a 100 m grid "
        "(x and y multiples of 100 m in the raster's CRS) inside each polygon. Windows that "
        "leave the raster or hold nodata are skipped and counted; grid points inside polygons "
        "of different classes are left out.<br>"
        "<b>Quality checks</b> (warnings, and the suspicious training areas layer with the "
        "polygon id, class and reason): classes with fewer than 3 polygons, polygons outside "
        "the raster or on nodata, overlapping polygons of different classes, polygons too "
        "small to hold a grid point, and polygons of 300,000 m² or more, which are replaced "
        "by a 300 m buffer around their centroid, as the LCZ Generator does.<br>"
        "<b>Output</b>: sen2 (and sen1 with a Sentinel-1 raster) as float64 reflectance like "
        "So2Sat (a DN raster is divided by 10000), the one-hot label, and the polygon id of "
        "each patch; the patches' georeference goes to the *_geo.h5 beside it (So2Sat's "
        "2025 layout). The raster is read by tiles: memory does not grow with its size."
    ),
    params=[
        Param("AREAS", VECTOR, "Training areas (polygons, KML/KMZ)",
              "The training-area polygons with an LCZ field (a vector file; in QGIS also a "
              "layer of the project, a scratch layer or only their selected features), or "
              "the WUDAPT template KML/KMZ file with one folder per class.", keyword=""),
        Param("FIELD", FIELD, "LCZ field",
              "The field holding each polygon's LCZ (1-17, 101-107 or A-G, numbers or text); "
              "empty: found by name (lcz, class, code, ...), and for a WUDAPT KML/KMZ the "
              "folder's name.", optional=True, parent="AREAS"),
        Param("SENTINEL2", RASTER, "Sentinel-2 raster (10 bands)",
              "The 10-band Sentinel-2 stack in So2Sat order at 10 m (Prepare Sentinel-2 "
              "product or the cloud-free composite).", keyword=""),
        Param("SENTINEL1", RASTER, "Sentinel-1 raster (optional)",
              "A Sentinel-1 raster on the Sentinel-2 grid: the 8 So2Sat channels, or the 2 "
              "VH/VV intensity bands of Prepare Sentinel-1.", optional=True),
        scale_param(advanced=False),
        offset_param(),
        Param("OUTPUT", FILE_DEST, "Patches (So2Sat HDF5)",
              "The So2Sat-format HDF5 file to write (.h5); its *_geo.h5 is written beside it.",
              keyword="", file_filter=HDF5_FILTER),
        Param("SUSPICIOUS", VECTOR_DEST, "Suspicious training areas",
              "The GeoPackage of suspicious training areas to write (polygon id, class, "
              "reason), styled by LCZ.", optional=True),
    ],
    outputs=[
        Output("GEO", OUT_FILE, "Geolocation file (*_geo.h5)"),
        Output("N_PATCHES", OUT_NUMBER, "Patches written"),
        Output("N_AREAS", OUT_NUMBER, "Training areas read"),
        Output("N_SUSPICIOUS", OUT_NUMBER, "Suspicious training areas"),
        Output("N_SKIPPED", OUT_NUMBER, "Windows skipped (outside the raster or on nodata)"),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
