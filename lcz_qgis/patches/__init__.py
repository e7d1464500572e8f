"""So2Sat patches as georeferenced rasters and styled outlines.

Public names (imported on first use, so importing the package stays cheap):
- ``load``: LoadPatchesResult, load_patches
- ``outlines``: write_outlines
- ``placement``: Placement, place_geo, place_grid, place_patches
- ``rasters``: PatchSource, write_mosaics, write_patch_files
- ``selection``: MAX_PATCHES, parse_indices, select_per_class, select_patches
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "LoadPatchesResult": "load",
        "load_patches": "load",
        "write_outlines": "outlines",
        "Placement": "placement",
        "place_geo": "placement",
        "place_grid": "placement",
        "place_patches": "placement",
        "PatchSource": "rasters",
        "write_mosaics": "rasters",
        "write_patch_files": "rasters",
        "MAX_PATCHES": "selection",
        "parse_indices": "selection",
        "select_per_class": "selection",
        "select_patches": "selection",
    },
)
