"""lcz classify: LCZ map from Sentinel-2 and/or Sentinel-1 rasters (lcz:classifyraster)."""

from __future__ import annotations

from pathlib import Path

from ..atomic import check_distinct_paths
from ..classify import DEFAULT_BATCH, DEFAULT_STRIDE, classify_raster
from ..classify_inputs import SCALES
from ..classify_outputs import FORMATS
from ..errors import LczError
from ..modelfile import load_model
from ..postfilter import FILTERS

NAME = "classify"
ORDER = 30
HELP = "classify rasters into an LCZ map with 32x32 sliding windows"
DESCRIPTION = (
    "Classify Sentinel-2 and/or Sentinel-1 rasters (10 m, projected CRS, So2Sat band order "
    "and scale) into an LCZ map. Several inputs: give as many --output values as inputs; "
    "every other per-raster option (--sentinel1, --confidence, --probabilities, "
    "--area-table, --map-image) then takes one value per input too."
)


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help=".lczmodel, .keras or .h5 model file")
    p.add_argument("--sentinel2", nargs="+", default=[], help="Sentinel-2 raster(s), So2Sat order")
    p.add_argument(
        "--sentinel1",
        nargs="+",
        default=[],
        help="Sentinel-1 raster(s); resampled onto the Sentinel-2 grid if not aligned",
    )
    p.add_argument(
        "--bands",
        default="",
        help="Sentinel-2 band mapping: raster band numbers (1-based) feeding the So2Sat channels "
        "B2,B3,B4,B5,B6,B7,B8,B8A,B11,B12 (10 numbers) or the model's channels",
    )
    p.add_argument("--bands-s1", default="", help="Sentinel-1 band mapping (like --bands)")
    p.add_argument(
        "--scale",
        choices=SCALES,
        default="auto",
        help="Sentinel-2 scale: auto-detect, reflectance, or dn (divided by 10000)",
    )
    p.add_argument(
        "--stride",
        type=int,
        default=DEFAULT_STRIDE,
        help="window step in input pixels = output pixel size (default 10: 100 m)",
    )
    p.add_argument(
        "--resolution",
        type=float,
        default=0,
        help="output pixel size in metres (a multiple of the input pixel size); overrides --stride",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH,
        help=f"windows per model call (default {DEFAULT_BATCH}); lower it if memory is short",
    )
    p.add_argument("--mask", default="", help="polygon vector file: cells outside are 0")
    p.add_argument(
        "--extent",
        default="",
        help="xmin,ymin,xmax,ymax (in --extent-crs, by default the raster's CRS): cells "
        "outside are 0",
    )
    p.add_argument(
        "--extent-crs",
        default="",
        help="CRS of --extent, e.g. EPSG:4326 (default: the raster's CRS)",
    )
    p.add_argument("--filter", choices=FILTERS, default="none", help="post-classification filter")
    p.add_argument("--reproject", action="store_true", help="warp geographic input to UTM, 10 m")
    p.add_argument("--resample", action="store_true", help="resample input to 10 m pixels")
    p.add_argument("--output", nargs="+", required=True, help="LCZ map GeoTIFF(s), one per input")
    p.add_argument("--confidence", nargs="+", default=[], help="confidence GeoTIFF(s)")
    p.add_argument(
        "--confidence-format",
        choices=FORMATS,
        default="float",
        help="float: 0-1, nodata -1 (default); byte: percent 0-100, nodata 255",
    )
    p.add_argument("--probabilities", nargs="+", default=[], help="17-band probability GeoTIFF(s)")
    p.add_argument(
        "--probabilities-format",
        choices=FORMATS,
        default="float",
        help="float: 0-1, nodata -1 (default); byte: percent 0-100, nodata 255",
    )
    p.add_argument("--area-table", nargs="+", default=[], help="area per class CSV(s)")
    p.add_argument("--map-image", nargs="+", default=[], help="map PNG(s) with legend")


def _extent(text: str):
    if not text:
        return None
    try:
        v = [float(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        v = []
    if len(v) != 4:
        raise LczError(f"--extent '{text}': give xmin,ymin,xmax,ymax")
    return v


def _check_all_first(args, per_input: dict) -> None:
    """Before the first map is written: every input exists, and no output of any run is
    an input of any run or another output (a loop over cities must not overwrite the
    next city's imagery, or its own results)."""
    for name in ("--sentinel2", "--sentinel1"):
        for path in per_input[name]:
            if not Path(path).exists() and not path.startswith("/vsi"):
                raise LczError(f"{name} raster '{path}' does not exist")
    inputs = {"--model": args.model, "--mask": args.mask or None}
    inputs |= {name: per_input[name] for name in ("--sentinel2", "--sentinel1")}
    outputs = {"--output": args.output}
    outputs |= {k: v for k, v in per_input.items() if k not in ("--sentinel2", "--sentinel1")}
    check_distinct_paths(inputs, outputs)
    rasters = {k: outputs[k] for k in ("--output", "--confidence", "--probabilities")}
    check_distinct_paths({}, rasters, sidecar=".qml")


def run(args, feedback) -> int:
    n = len(args.output)
    per_input = {
        "--sentinel2": args.sentinel2,
        "--sentinel1": args.sentinel1,
        "--confidence": args.confidence,
        "--probabilities": args.probabilities,
        "--area-table": args.area_table,
        "--map-image": args.map_image,
    }
    for name, values in per_input.items():
        if values and len(values) != n:
            raise LczError(f"{name} has {len(values)} values but --output has {n}")
    if not args.sentinel2 and not args.sentinel1:
        raise LczError("give --sentinel2 and/or --sentinel1")
    _check_all_first(args, per_input)
    model = load_model(args.model)
    extent = _extent(args.extent)

    def nth(values, i):
        return values[i] if values else None

    for i, out in enumerate(args.output):
        res = classify_raster(
            model,
            out,
            sentinel2=nth(args.sentinel2, i),
            sentinel1=nth(args.sentinel1, i),
            stride=args.stride,
            batch_size=args.batch_size,
            confidence=nth(args.confidence, i),
            feedback=feedback.scaled(100 * i / n, 100 * (i + 1) / n),
            bands=args.bands or None,
            bands_s1=args.bands_s1 or None,
            scale=args.scale,
            resolution=args.resolution or None,
            mask=args.mask or None,
            extent=extent,
            extent_crs=args.extent_crs or None,
            filter=args.filter,
            confidence_format=args.confidence_format,
            probabilities=nth(args.probabilities, i),
            probabilities_format=args.probabilities_format,
            area_table=nth(args.area_table, i),
            map_image=nth(args.map_image, i),
            reproject=args.reproject,
            resample=args.resample,
        )
        print(
            f"{res.output}: {res.grid.cols} x {res.grid.rows} cells of "
            f"{abs(res.grid.geotransform[1]):g} m, {res.windows_valid} windows classified "
            f"in {res.seconds:.1f} s"
        )
        for key, path in res.outputs.items():
            if key != "OUTPUT":
                print(f"  {key.lower()}: {path}")
    return 0
