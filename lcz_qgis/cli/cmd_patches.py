"""lcz patches: So2Sat patches as georeferenced GeoTIFFs and outlines (lcz:loadpatches)."""

from __future__ import annotations

import sys

from ..patches import MAX_PATCHES, load_patches

NAME = "patches"
ORDER = 14
HELP = "write So2Sat patches as georeferenced GeoTIFFs (true place with a *_geo.h5, else a grid)"
DESCRIPTION = (
    HELP + f". Select with --indices or --per-class (at most {MAX_PATCHES} patches). With "
    "--geo, one mosaic per UTM zone and city (or one file per patch); without, a grid in "
    "EPSG:3857 at Null Island with 10 m pixels."
)


def add_arguments(p) -> None:
    p.add_argument("--input", required=True, help="So2Sat LCZ42 HDF5 file")
    p.add_argument("--geo", help="its So2Sat geolocation file (*_geo.h5, 2025 or 2026 layout)")
    p.add_argument("--sensor", default="sen2", choices=["sen2", "sen1"])
    p.add_argument("--indices", help="0-based patch indices and ranges, e.g. '0-9,15,20-25'")
    p.add_argument(
        "--per-class", type=int, default=0, help="N random patches of each LCZ class (seeded)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--per-patch-files", action="store_true", help="one GeoTIFF per patch")
    p.add_argument("--output-folder", required=True, help="folder for the GeoTIFFs")
    p.add_argument("--output-patches", help="GeoPackage of patch outlines (.gpkg)")


def run(args, feedback) -> int:
    r = load_patches(
        args.input,
        args.output_folder,
        geo=args.geo,
        sensor=args.sensor,
        indices=args.indices,
        per_class=args.per_class,
        seed=args.seed,
        output_patches=args.output_patches,
        per_patch_files=args.per_patch_files,
        feedback=feedback,
    )
    try:
        _report(args, r)
    except KeyboardInterrupt:  # the outputs are complete: do not say "no output was written"
        print(
            f"lcz {NAME}: interrupted after the outputs were written to {args.output_folder}",
            file=sys.stderr,
        )
        return 130
    return 0


def _report(args, r) -> None:
    crs = ", ".join(f"EPSG:{e}" for e in r.crs)
    print(
        f"{r.n_placed} patches in {len(r.rasters)} GeoTIFF(s) ({r.layout} layout; {crs}); "
        f"{len(r.skipped)} skipped; {r.bytes_read / 1e6:.1f} MB read of "
        f"{r.file_size / 1e6:.1f} MB in {r.seconds:.1f} s"
    )
    if len(r.rasters) <= 20:
        for p in r.rasters:
            print(p)
    else:
        print(f"{args.output_folder} ({len(r.rasters)} files)")
    if r.patches_layer:
        print(r.patches_layer)
