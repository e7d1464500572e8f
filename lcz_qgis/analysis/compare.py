"""``compare_maps``: agreement of two LCZ maps on one grid (the coarser one's).

The cross-table counts the cells where both maps hold an LCZ, rows = the reference,
columns = the map (``evaluation.metrics`` orientation), and its scores are those of
``evaluation.metrics.scores_from_confusion`` (OA, kappa, OA_u, OA_bu, OA_w, per class).
The agreement raster holds 1 where the maps agree, 2 where they differ and 0 where
either has no LCZ. Both maps are read by strips of rows: memory is flat in map size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..common.atomic import check_distinct_paths, staged_outputs
from ..common.errors import LczError, param
from ..common.feedback import Feedback
from ..common.legend import LCZ_CLASSES
from ..evaluation.metrics import confusion_matrix, scores_from_confusion
from ..raster.io import closing_raster, create_geotiff, gdal_writes
from ..styling.qml import paletted_style
from .common_grid import common_grid
from .read_map import STRIP_ROWS, LczMap, iter_strips, open_lcz_map

AGREE, DISAGREE = 1, 2


def agreement_qml() -> str:
    """The agreement raster's style: agree green, differ red, 0 transparent."""
    return paletted_style([(AGREE, "#1a9641", "agree"), (DISAGREE, "#d7191c", "differ")])


def cross_table_text(cm: np.ndarray) -> str:
    """The cross-table as CSV: a header of the map's classes, one row per reference class,
    with row and column totals."""
    names = [f"LCZ {c.letter}" for c in LCZ_CLASSES]
    lines = ["reference \\ map," + ",".join(names) + ",total"]
    for name, row in zip(names, cm):
        lines.append(f"{name}," + ",".join(map(str, row)) + f",{row.sum()}")
    lines.append("total," + ",".join(map(str, cm.sum(axis=0))) + f",{cm.sum()}")
    return "\n".join(lines) + "\n"


def _agreement_pass(ref: LczMap, other: LczMap, ds, feedback) -> np.ndarray:
    """Write the agreement raster to ``ds`` strip by strip; returns the cross-table."""
    cm = np.zeros((17, 17), np.int64)
    strips_b = iter_strips(other, STRIP_ROWS)
    for row0, a in iter_strips(ref, STRIP_ROWS):
        feedback.check_cancelled()
        _, b = next(strips_b)
        both = (a > 0) & (b > 0)
        out = np.where(both, np.where(a == b, AGREE, DISAGREE), 0).astype(np.uint8)
        ds.write(out[None], window=((row0, row0 + out.shape[0]), (0, out.shape[1])))
        cm += confusion_matrix(a, b)
        feedback.progress(95.0 * (row0 + out.shape[0]) / ref.info.height)
    return cm


def _check(output, table) -> None:
    """The agreement raster must be a .tif, the table a .csv."""
    if Path(str(output)).suffix.lower() not in (".tif", ".tiff"):
        raise LczError(f"{param('OUTPUT')}: the agreement raster is a GeoTIFF; give a .tif name")
    if table and Path(str(table)).suffix.lower() != ".csv":
        raise LczError(f"{param('TABLE')}: the cross-table is a CSV file; give a .csv name")


def compare_maps(reference, map_path, output, table=None, feedback: Feedback | None = None):
    """Compare two LCZ maps: agreement raster, cross-table CSV and scores.

    Returns:
        The ``scores_from_confusion`` dict plus ``note`` (which map was resampled),
        ``output`` and ``table``.

    Raises:
        LczError: bad input (named); no cell where both maps hold an LCZ.
    """
    feedback = feedback or Feedback()
    _check(output, table)
    check_distinct_paths({"REFERENCE": reference, "MAP": map_path},
                         {"OUTPUT": output, "TABLE": table})  # fmt: skip
    with open_lcz_map(reference, "reference map") as a, open_lcz_map(map_path) as b:
        ref, other, note = common_grid(a, b)
        feedback.info(note)
        info = ref.info
        with staged_outputs(feedback) as st:
            tmp = st.temp(output)
            with gdal_writes(), closing_raster(create_geotiff(
                tmp, info.width, info.height, 1, "uint8", info.geotransform, info.crs_wkt,
                nodata=0, descriptions=["agreement"])) as ds:  # fmt: skip
                cm = _agreement_pass(ref, other, ds, feedback)
            if cm.sum() == 0:
                raise LczError("the two maps share no cell where both hold an LCZ; do they "
                               "cover the same place?")  # fmt: skip
            st.write_text(Path(output).with_suffix(".qml"), agreement_qml())
            if table:
                st.write_text(table, cross_table_text(cm))
    scores = scores_from_confusion(cm)
    return {**scores, "note": note, "output": str(output), "table": table and str(table)}
