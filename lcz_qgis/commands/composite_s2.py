"""``lcz composite-s2`` / lcz:compositesentinel2: several Sentinel-2 dates -> one cloud-free
10-band composite (a per-pixel median or percentile of the valid dates)."""

from __future__ import annotations

from ..sentinel.composite import composite_sentinel2
from .spec import ENUM, FILE, RASTER_DEST, Command, Param

METHOD_LABELS = {"median": "Median of the clear dates", "p25": "Percentile 25",
                 "p50": "Percentile 50 (the median)", "p75": "Percentile 75"}  # fmt: skip


def _run(values: dict, feedback, given=None) -> dict:
    res = composite_sentinel2(
        values["INPUT"], values["OUTPUT"], method=values["METHOD"],
        count_output=values["COUNT"], feedback=feedback,
    )  # fmt: skip
    return {"OUTPUT": values["OUTPUT"], "COUNT": str(res.count_output), "_result": res}


def _report(values: dict, outputs: dict) -> str:
    res = outputs["_result"]
    return (
        f"{res.output}: {res.method} of {len(res.dates)} dates, {res.width} x {res.height} px, "
        f"{100 * res.nodata_fraction:.1f}% without a valid date; count: {res.count_output}"
    )


COMMAND = Command(
    name="composite-s2",
    algorithm="compositesentinel2",
    display_name="Cloud-free Sentinel-2 composite",
    group="mapping",
    order=27,
    summary="composite several Sentinel-2 dates into one cloud-free 10-band raster "
    "(median or percentile of the valid dates)",
    help=(
        "Makes one cloud-free Sentinel-2 raster from several dates of the same tile (or of "
        "overlapping tiles): per pixel and band, the median or a percentile of the dates that "
        "are valid there.<br>"
        "<b>Inputs</b>: two or more products (.SAFE folder, MTD_MSIL2A.xml / MTD_MSIL1C.xml "
        "or .zip) and/or rasters written by Prepare Sentinel-2 (10 bands), in any order. "
        "The output grid is the 10 m grid of the first; other dates are warped onto it "
        "(with a note); a date that does not overlap it is an error. One input is one "
        "date: in the dialog, add each product's MTD_MSIL2A.xml or .zip (Add File(s)…); "
        "Add Directory… on a .SAFE folder adds its band files one by one, which is "
        "refused, naming the product.<br>"
        "<b>Valid</b>: a date is not valid at a pixel where a band is DN 0 or where its scene "
        "classification (SCL, L2A) is cloud shadow (3), cloud (8, 9) or cirrus (10); a "
        "prepared raster's nodata pixels are not valid. A date with no valid pixel "
        "contributes nothing (a warning). L1C and L2A products are not mixed.<br>"
        "Reflectance = (DN + offset) / 10000 with each product's own offset (processing "
        "baseline 04.00+: -1000), so dates of different baselines agree; the 20 m bands are "
        "resampled bilinearly to 10 m.<br>"
        "<b>Method</b>: median, 25th, 50th or 75th percentile, interpolated linearly between "
        "the sorted valid values (numpy's default). A pixel with no valid date is nodata.<br>"
        "Outputs: the composite (float32 reflectance, B2 ... B12 in So2Sat order, nodata "
        "-9999: Classify takes it as it is) and the number of valid dates per pixel, as a "
        "raster of its own (byte, 0 = no valid date), not an 11th band: the models take the "
        "10 So2Sat bands, so the composite stays a 10-band stack. Streams by windows of "
        "about 160 MB for all the dates together (narrower as dates are added, at least "
        "one block of the inputs per date): memory does not grow with the raster size."
    ),
    params=[
        Param("INPUT", FILE, "Sentinel-2 dates (products or prepared rasters)",
              "The Sentinel-2 dates: products (.SAFE folder, MTD_MSIL*.xml or .zip) or rasters "
              "of Prepare Sentinel-2, two or more.", keyword="", cli_multiple=True,
              file_filter="Sentinel-2 products and rasters (*.zip *.xml *.tif *.tiff);;"
              "All files (*)"),
        Param("METHOD", ENUM, "Statistic of the valid dates",
              "The per-pixel statistic of the valid dates (percentiles interpolated linearly).",
              choices=tuple(METHOD_LABELS.items()), default="median", keyword=""),
        Param("OUTPUT", RASTER_DEST, "Composite (So2Sat bands, 10 m)",
              "The composite GeoTIFF to write (float32 reflectance, 10 bands).", keyword=""),
        Param("COUNT", RASTER_DEST, "Valid dates per pixel",
              "The GeoTIFF of the number of valid dates per pixel (byte; a file of its own, "
              "not a band of the composite, which keeps the 10 bands Classify reads; "
              "default: the composite's name with _count, beside it).", optional=True,
              keyword=""),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
