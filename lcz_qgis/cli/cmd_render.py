"""lcz render: true colour, S1 false colour, NDVI, RVI, NDBI, NDWI, MNDWI (lcz:render)."""

from __future__ import annotations

from ..indices import PRODUCTS
from ..render import render

NAME = "render"
ORDER = 16
HELP = "render a visual product of a raster: " + ", ".join(PRODUCTS)
DESCRIPTION = (
    HELP + ". Indices are float32 (nodata -9999), composites byte RGB + alpha; each output "
    "gets a .qml style. Reads by blocks, so whole Sentinel-2 tiles work."
)


def add_arguments(p) -> None:
    p.add_argument("--input", required=True, help="raster (So2Sat band order, or give --bands)")
    p.add_argument("--product", required=True, choices=list(PRODUCTS))
    p.add_argument(
        "--bands",
        default="",
        help="band mapping for rasters not in So2Sat order: 'B4=3,B8=4' (1-based band "
        "numbers) or 'B2,B3,B4,B8' (the raster's bands in order)",
    )
    p.add_argument("--output", required=True, help="GeoTIFF to write")


def run(args, feedback) -> int:
    r = render(args.input, args.product, args.output, bands=args.bands or None, feedback=feedback)
    print(
        f"{r.output}: {r.product}, {r.valid_pixels} valid pixels, {r.seconds:.1f} s (style {r.qml})"
    )
    return 0
