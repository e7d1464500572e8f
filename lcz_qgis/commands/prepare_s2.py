"""``lcz prepare-s2`` / lcz:preparesentinel2: Sentinel-2 product -> So2Sat 10-band
reflectance stack at 10 m."""

from __future__ import annotations

from ..common.errors import LczError
from ..sentinel.prepare_s2 import RESAMPLING, prepare_sentinel2
from .spec import (
    BOOL,
    ENUM,
    EXTENT,
    FILE,
    FLOAT,
    MULTI_RASTER,
    RASTER_DEST,
    VECTOR,
    Command,
    Param,
)

RESAMPLING_LABELS = {"bilinear": "Bilinear interpolation", "cubic": "Cubic convolution"}


def sources(values: dict):
    """The product (one path) or its band files (a list) from INPUT and BAND_FILES."""
    paths = [*values["INPUT"], *values["BAND_FILES"]]
    if not paths:
        raise LczError("give a Sentinel-2 product (INPUT) or its band files (BAND_FILES)")
    return paths[0] if len(paths) == 1 else paths


def _run(values: dict, feedback, given=None) -> dict:
    res = prepare_sentinel2(
        sources(values), values["OUTPUT"], **COMMAND.kwargs(values, "CLOUD_MASK", "EXTENT",
        "MASK", "RESAMPLING", "OFFSET"), feedback=feedback,
    )  # fmt: skip
    return {"OUTPUT": values["OUTPUT"], "_result": res}


def _report(values: dict, outputs: dict) -> str:
    res = outputs["_result"]
    return (
        f"{res.output}: {res.width} x {res.height} px at 10 m, {res.product.level}, "
        f"{100 * res.nodata_fraction:.1f}% nodata"
    )


COMMAND = Command(
    name="prepare-s2",
    algorithm="preparesentinel2",
    display_name="Prepare Sentinel-2 product",
    group="mapping",
    order=25,
    summary="prepare a Sentinel-2 L2A/L1C product (.SAFE, zip or band files) for "
    "classification",
    help=(
        "Makes the 10-band Sentinel-2 raster the LCZ models need from an L2A or L1C product: "
        "B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12 (So2Sat order) at 10 m, as reflectance.<br>"
        "<b>Product</b>: a .SAFE folder (type its path, or pick its MTD_MSIL2A.xml / "
        "MTD_MSIL1C.xml) or the product's .zip. Or give the <b>band files</b> (JP2 or "
        "GeoTIFF, named like the product's: ..._B02_10m.jp2, ..._B11_20m.jp2).<br>"
        "The 20 m bands are resampled onto the 10 m grid (bilinear or cubic). Reflectance = "
        "(DN + offset) / 10000, with the per-band offset of processing baseline 04.00+ "
        "products (BOA_ADD_OFFSET / RADIO_ADD_OFFSET, -1000) read from the MTD file; "
        "<b>Offset</b> overrides it; a baseline 04.00+ MTD file without offsets gets -1000 "
        "(with a warning). DN 0 is nodata.<br>"
        "The band files must be in the product's UTM grid (not degrees) and cover the same "
        "area (one tile): a band that does not overlap the 10 m grid is an error.<br>"
        "<b>Cloud mask</b> (L2A): scene classification (SCL) classes 3 (cloud shadow), 8 and "
        "9 (cloud, medium/high probability) and 10 (thin cirrus) become nodata.<br>"
        "<b>Extent</b> / <b>Clip polygons</b>: clip the output; pixels outside the polygons "
        "are nodata.<br>"
        "Output: tiled, compressed float32 GeoTIFF, nodata -9999, band descriptions set. "
        "Streams by blocks of rows: a whole 10980 x 10980 tile takes little memory."
    ),
    params=[
        Param("INPUT", FILE, "Sentinel-2 product (.SAFE folder, MTD_MSIL*.xml or .zip)",
              "The Sentinel-2 product: a .SAFE folder, its MTD_MSIL*.xml or a .zip (in the "
              "CLI also the band files, as before).", optional=True, keyword="",
              cli_multiple=True, file_filter="Sentinel-2 products (*.zip MTD_MSIL2A.xml "
              "MTD_MSIL1C.xml);;All files (*)"),
        Param("BAND_FILES", MULTI_RASTER, "Or: band files",
              "Or the product's band files (JP2 or GeoTIFF, named like the product's).",
              optional=True, keyword=""),
        Param("CLOUD_MASK", BOOL, "Mask clouds and shadows (SCL)",
              "Mask clouds and shadows: SCL classes 3, 8, 9 and 10 become nodata (L2A).",
              default=True),
        Param("EXTENT", EXTENT, "Clip to extent",
              "Clip to xmin,ymin,xmax,ymax in the product's CRS (default: the whole tile).",
              optional=True),
        Param("MASK", VECTOR, "Clip to polygons",
              "Clip to the polygons of a vector file, in any CRS (default: no clip).",
              optional=True),
        Param("RESAMPLING", ENUM, "Resampling of the 20 m bands",
              "The resampling of the 20 m bands onto the 10 m grid.",
              choices=tuple((r, RESAMPLING_LABELS[r]) for r in RESAMPLING), default="bilinear"),
        Param("OFFSET", FLOAT, "Radiometric offset in DN (empty = from the product metadata)",
              "The radiometric offset in DN, overriding the metadata, e.g. -1000 (default: "
              "from the MTD file; -1000 for baseline 04.00+ products, 0 before).",
              optional=True),
        Param("OUTPUT", RASTER_DEST, "Sentinel-2 (So2Sat bands, 10 m)",
              "The GeoTIFF to write (float32 reflectance)."),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
