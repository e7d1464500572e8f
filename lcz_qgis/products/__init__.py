"""Visual products: spectral indices and colour composites, on arrays and whole rasters by blocks.

Public names (imported on first use, so importing the package stays cheap):
- ``indices``: PRODUCTS
"""

from ..common.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "PRODUCTS": "indices",
    },
)
