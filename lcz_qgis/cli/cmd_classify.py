"""lcz classify: LCZ map from Sentinel-2 and/or Sentinel-1 rasters (lcz:classifyraster)."""

from __future__ import annotations

from ..classify import DEFAULT_BATCH, DEFAULT_STRIDE, classify_raster
from ..errors import LczError
from ..modelfile import load_model

NAME = "classify"
ORDER = 30
HELP = "classify rasters into an LCZ map with 32x32 sliding windows"


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help=".lczmodel, .keras or .h5 model file")
    p.add_argument("--sentinel2", nargs="+", default=[], help="Sentinel-2 raster(s), So2Sat order")
    p.add_argument("--sentinel1", nargs="+", default=[], help="Sentinel-1 raster(s), same grid")
    p.add_argument(
        "--stride",
        type=int,
        default=DEFAULT_STRIDE,
        help="window step in input pixels = output pixel size (default 10: 100 m)",
    )
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH)
    p.add_argument("--output", nargs="+", required=True, help="LCZ map GeoTIFF(s), one per input")
    p.add_argument("--confidence", nargs="+", default=[], help="optional confidence GeoTIFF(s)")


def run(args, feedback) -> int:
    n = len(args.output)
    for name, values in (
        ("--sentinel2", args.sentinel2),
        ("--sentinel1", args.sentinel1),
        ("--confidence", args.confidence),
    ):
        if values and len(values) != n:
            raise LczError(f"{name} has {len(values)} values but --output has {n}")
    if not args.sentinel2 and not args.sentinel1:
        raise LczError("give --sentinel2 and/or --sentinel1")
    model = load_model(args.model)
    for i, out in enumerate(args.output):
        res = classify_raster(
            model,
            out,
            sentinel2=args.sentinel2[i] if args.sentinel2 else None,
            sentinel1=args.sentinel1[i] if args.sentinel1 else None,
            stride=args.stride,
            batch_size=args.batch_size,
            confidence=args.confidence[i] if args.confidence else None,
            feedback=feedback.scaled(100 * i / n, 100 * (i + 1) / n),
        )
        print(
            f"{res.output}: {res.grid.cols} x {res.grid.rows} cells, "
            f"{res.windows_valid} windows classified in {res.seconds:.1f} s"
        )
    return 0
