"""lcz prepare-s2: Sentinel-2 product -> So2Sat 10-band reflectance stack (lcz:preparesentinel2)."""

from __future__ import annotations

from ..prepare_s2 import RESAMPLING, prepare_sentinel2
from .cmd_classify import _extent

NAME = "prepare-s2"
ORDER = 25
HELP = "prepare a Sentinel-2 L2A/L1C product (.SAFE, zip or band files) for classification"
DESCRIPTION = (
    "Build the So2Sat-order 10-band stack (B2 B3 B4 B5 B6 B7 B8 B8A B11 B12) at 10 m from a "
    "Sentinel-2 product: 20 m bands resampled onto the 10 m grid, reflectance = (DN + "
    "offset) / 10000 with the product's offset (baseline 04.00+: -1000), DN 0 = nodata, "
    "optional SCL cloud/shadow mask and clip."
)


def add_arguments(p) -> None:
    p.add_argument(
        "--input",
        nargs="+",
        required=True,
        help="a .SAFE folder, its MTD_MSIL*.xml, a .zip, or the band files (JP2/GeoTIFF)",
    )
    p.add_argument("--output", required=True, help="output GeoTIFF (float32 reflectance)")
    p.add_argument(
        "--no-cloud-mask",
        dest="cloud_mask",
        action="store_false",
        help="keep cloudy pixels (default: mask them: SCL classes 3, 8, 9, 10 -> nodata)",
    )
    p.add_argument(
        "--extent",
        default="",
        help="clip: xmin,ymin,xmax,ymax in the product CRS (default: no clip, the whole tile)",
    )
    p.add_argument(
        "--mask",
        default="",
        help="clip to the polygons of a vector file, any CRS (default: no clip)",
    )
    p.add_argument(
        "--resampling",
        choices=RESAMPLING,
        default="bilinear",
        help="resampling of the 20 m bands onto the 10 m grid (default: %(default)s)",
    )
    p.add_argument(
        "--offset",
        type=float,
        default=None,
        help="radiometric offset in DN, overriding the metadata, e.g. -1000 (default: from "
        "the MTD file; -1000 for baseline 04.00+ products, 0 before)",
    )


def run(args, feedback) -> int:
    res = prepare_sentinel2(
        args.input if len(args.input) > 1 else args.input[0],
        args.output,
        cloud_mask=args.cloud_mask,
        extent=_extent(args.extent),
        mask=args.mask or None,
        resampling=args.resampling,
        offset=args.offset,
        feedback=feedback,
    )
    print(
        f"{res.output}: {res.width} x {res.height} px at 10 m, {res.product.level}, "
        f"{100 * res.nodata_fraction:.1f}% nodata"
    )
    return 0
