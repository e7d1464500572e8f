"""lcz prepare-s1: Sentinel-1 GRD VV/VH -> Lee-filtered intensities on a Sentinel-2 grid."""

from __future__ import annotations

from ..prepare_s1 import INPUT_SCALES, prepare_sentinel1
from ..speckle import DEFAULT_ENL, DEFAULT_WINDOW

NAME = "prepare-s1"
ORDER = 26
HELP = "prepare Sentinel-1 GRD VV/VH backscatter (So2Sat channels 5, 6) on a Sentinel-2 grid"
DESCRIPTION = (
    "Lee-filter Sentinel-1 GRD VV and VH backscatter (linear or dB) and resample it onto a "
    "prepared Sentinel-2 raster's grid. Output: band 1 VH_intensity, band 2 VV_intensity, "
    "linear (So2Sat sen1 channels 5 and 6; channels 1-4 and 7-8 need SLC data)."
)


def add_arguments(p) -> None:
    p.add_argument("--vv", required=True, help="VV backscatter GeoTIFF (band 1 is used)")
    p.add_argument("--vh", required=True, help="VH backscatter GeoTIFF (band 1 is used)")
    p.add_argument(
        "--reference",
        required=True,
        help="the prepared Sentinel-2 raster (its projected 10 m grid)",
    )
    p.add_argument("--output", required=True, help="output GeoTIFF (2 bands, float32)")
    p.add_argument(
        "--input-scale",
        choices=INPUT_SCALES,
        default="auto",
        help="scale of the VV/VH values: linear power or dB; auto detects dB from negative "
        "values (default: %(default)s)",
    )
    p.add_argument(
        "--window",
        type=int,
        default=DEFAULT_WINDOW,
        help="Lee filter window in pixels, odd: 5 or 7 (default: %(default)s)",
    )
    p.add_argument(
        "--enl",
        type=float,
        default=DEFAULT_ENL,
        help="equivalent number of looks of the Lee filter (default: %(default)s, IW GRDH)",
    )


def run(args, feedback) -> int:
    res = prepare_sentinel1(
        args.vv,
        args.vh,
        args.reference,
        args.output,
        input_scale=args.input_scale,
        window=args.window,
        enl=args.enl,
        feedback=feedback,
    )
    print(f"{res.output}: {res.width} x {res.height} px, input VV {res.scales['VV']}")
    return 0
