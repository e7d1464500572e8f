"""``lcz prepare-s1`` / lcz:preparesentinel1: Sentinel-1 GRD VV/VH -> Lee-filtered
intensities on a Sentinel-2 grid."""

from __future__ import annotations

from ..sentinel.prepare_s1 import INPUT_SCALES, prepare_sentinel1
from ..sentinel.speckle import DEFAULT_ENL, DEFAULT_WINDOW
from .spec import ENUM, FLOAT, INT, RASTER, RASTER_DEST, Command, Param

SCALE_LABELS = {
    "auto": "Auto (dB if there are negative values)",
    "linear": "Linear power",
    "db": "Decibels (dB)",
}


def _run(values: dict, feedback, given=None) -> dict:
    res = prepare_sentinel1(
        values["VV"], values["VH"], values["REFERENCE"], values["OUTPUT"],
        **COMMAND.kwargs(values, "INPUT_SCALE", "WINDOW", "ENL"), feedback=feedback,
    )  # fmt: skip
    return {"OUTPUT": values["OUTPUT"], "_result": res}


def _report(values: dict, outputs: dict) -> str:
    res = outputs["_result"]
    return f"{res.output}: {res.width} x {res.height} px, input VV {res.scales['VV']}"


COMMAND = Command(
    name="prepare-s1",
    algorithm="preparesentinel1",
    display_name="Prepare Sentinel-1 backscatter",
    group="mapping",
    order=26,
    summary="prepare Sentinel-1 GRD VV/VH backscatter (So2Sat channels 5, 6) on a Sentinel-2 "
    "grid",
    help=(
        "Makes the Sentinel-1 raster a band-subset LCZ model uses from GRD backscatter: "
        "So2Sat channel 5 (VH intensity) and 6 (VV intensity), Lee speckle-filtered, linear, "
        "on the grid of a prepared Sentinel-2 raster (same CRS, transform and size).<br>"
        "<b>VV / VH</b>: calibrated, terrain-corrected GRD backscatter (sigma0), linear or "
        "dB (band 1 of each raster); <b>Input scale</b> auto detects dB from negative "
        "values; a declared scale the values contradict is kept, with a warning.<br>"
        "<b>Prepared Sentinel-2 raster</b>: a projected (UTM) 10 m grid, e.g. the output of "
        "Prepare Sentinel-2 product (lcz prepare-s2).<br>"
        "<b>Lee window</b>: 5 or 7 pixels (local mean/variance Lee filter, ENL 4.4 for IW "
        "GRDH). The input is warped bilinearly onto the Sentinel-2 grid, then filtered.<br>"
        "Output: band 1 VH_intensity, band 2 VV_intensity, float32, nodata -9999.<br>"
        "So2Sat channels 1-4 (complex VH/VV) and 7-8 (VH-VV covariance) need single-look "
        "complex (SLC) data: train models for this raster on channels 5,6 (BANDS '5,6')."
    ),
    params=[
        Param("VV", RASTER, "VV backscatter", "The VV backscatter raster (band 1 is used)."),
        Param("VH", RASTER, "VH backscatter", "The VH backscatter raster (band 1 is used)."),
        Param("REFERENCE", RASTER, "Prepared Sentinel-2 raster (grid)",
              "The prepared Sentinel-2 raster whose projected 10 m grid the output takes."),
        Param("INPUT_SCALE", ENUM, "Input scale",
              "The scale of the VV/VH values: linear power or dB; auto detects dB from "
              "negative values.", choices=tuple((c, SCALE_LABELS[c]) for c in INPUT_SCALES), default="auto"),
        Param("WINDOW", INT, "Lee filter window (odd, pixels)",
              "The Lee filter window in pixels, odd: 5 or 7.", default=DEFAULT_WINDOW,
              minimum=3, maximum=15),
        Param("ENL", FLOAT, "Equivalent number of looks",
              "The equivalent number of looks of the Lee filter (4.4 for IW GRDH).",
              default=DEFAULT_ENL, minimum=0.1),
        Param("OUTPUT", RASTER_DEST, "Sentinel-1 VH/VV intensity",
              "The GeoTIFF to write (2 bands, float32)."),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
