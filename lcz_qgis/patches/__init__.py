"""So2Sat patches as georeferenced rasters and styled outlines.

Public names (imported on first use, so importing the package stays cheap):
- ``layers``: MAX_PATCHES, load_patches, parse_indices
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "MAX_PATCHES": "layers",
        "load_patches": "layers",
        "parse_indices": "layers",
    },
)
