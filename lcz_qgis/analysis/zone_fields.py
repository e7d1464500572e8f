"""The statistics fields of a zone, in output order (the GeoPackage and the CSV).

``cells`` and ``nodata_cells`` count the zone's cells (centre inside) with an LCZ and
without; ``lcz_area_m2`` is the ground area of the LCZ cells; per class X (1-10, A-G)
``area_X`` (m^2) and ``share_X`` (0-1 of the LCZ cells); ``majority`` (code 1-17),
``majority_lcz`` (its letter), ``majority_name``, ``majority_share``; ``built_share``
(LCZ 1-10); ``impervious_share`` (``class_groups.IMPERVIOUS_CODES``);
``mean_confidence`` (empty without a confidence raster).
"""

from __future__ import annotations

from ..common.legend import LCZ_CLASSES, lcz_class
from .zonal_stats import ZoneCounts

REAL, INTEGER, TEXT = "real", "integer", "text"


def stat_fields() -> list[tuple[str, str]]:
    """(name, type) of every statistics field, in order."""
    fields = [("cells", INTEGER), ("nodata_cells", INTEGER), ("lcz_area_m2", REAL)]
    fields += [(f"area_{c.letter}", REAL) for c in LCZ_CLASSES]
    fields += [(f"share_{c.letter}", REAL) for c in LCZ_CLASSES]
    fields += [("majority", INTEGER), ("majority_lcz", TEXT), ("majority_name", TEXT)]
    fields += [(name, REAL) for name in
               ("majority_share", "built_share", "impervious_share", "mean_confidence")]  # fmt: skip
    return fields


def stat_values(counts: ZoneCounts) -> dict:
    """The statistics of one zone by field name (None where undefined: no LCZ cell)."""
    cells, area = counts.cells.tolist(), counts.area_m2.tolist()  # Python numbers: cheap
    valid = sum(cells[1:])
    values = {"cells": valid, "nodata_cells": cells[0],
              "lcz_area_m2": float(counts.area_m2[1:].sum())}  # fmt: skip
    for c in LCZ_CLASSES:
        values[f"area_{c.letter}"] = area[c.code]
        values[f"share_{c.letter}"] = cells[c.code] / valid if valid else None  # as share()
    summary = counts.summary()
    major = summary["majority"]
    values["majority"] = major
    values["majority_lcz"] = lcz_class(major).letter if major else None
    values["majority_name"] = lcz_class(major).name if major else None
    for key in ("majority_share", "built_share", "impervious_share", "mean_confidence"):
        values[key] = summary[key]
    return values
